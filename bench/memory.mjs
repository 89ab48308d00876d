// Peak memory of one training iteration (three steps, R1, averaged update) at several batch sizes
// and resolutions, and its extrapolation to configurations too large to run here. Measured: the
// peak bytes of live tensors (tfjs's count) and, on webgpu, of live GPU buffers (tfjs's pool of
// freed buffers included), in the last of two warm-up iterations (src/bench/run.ts). Model:
//
//   peak(batch) = fixed + batch * perSample      (fitted per preset and resolution from two batches)
//   perSample   = k * A                          A: activation elements of one sample at that level,
//                                                the sum of C*H*W over every encoder block's input
//                                                and every decoder block's output in use
//   fixed       = f * parameter bytes            (weights, averaged weights, Adam state, gradients)
//
// k (bytes kept per activation element) and f come from the runs; a target's peak is then
// f * its parameter bytes + batch * k * its A, with k from the run at the highest resolution (the
// one with the fused up/down-sampling blocks that dominate large models) and the range over all runs.
//
// Run after `npm run build`; for webgpu without a GPU, first `source ../shared/webgpu-cpu/setup.sh`:
//   node bench/memory.mjs [--backend webgpu] [--runs preset:res:batch,...] [--targets preset:res:batch,...]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { useBackend } from '../dist/backend/backend.js';
import { resolveConfig, encoderChannels, decoderChannels } from '../dist/config/config.js';
import { countParams, paramSpecs } from '../dist/model/params.js';
import { runRow } from '../dist/bench/run.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'webgpu' },
    runs: { type: 'string', default: 'test-tiny32:32:4,test-tiny32:32:8,test-tiny32:16:8,test-fused128:128:2,test-fused128:128:4,test-fused128:64:4' },
    targets: { type: 'string', default: 'celeba-hq256:64:32,ffhq:1024:16' },
    one: { type: 'string' },
  },
});
const parse = (s) => {
  const [preset, res, batch] = s.split(':');
  return { preset, res: Number(res), batch: Number(batch) };
};

/** Activation elements of one sample at a resolution: encoder block inputs and decoder block outputs in use. */
function activationElements(m, res) {
  const lod = Math.log2(res / 4);
  let a = 0;
  for (let i = m.layerCount - 1 - lod; i < m.layerCount; i++) a += encoderChannels(m, i)[0] * (2 ** (m.layerCount + 1 - i)) ** 2;
  for (let j = 0; j <= lod; j++) a += decoderChannels(m, j) * (4 * 2 ** j) ** 2;
  return a;
}
const paramBytes = (preset) => 4 * countParams(paramSpecs(resolveConfig(preset).model));

if (values.one) {
  // A child: one run, its result as one JSON line.
  const r = parse(values.one);
  await useBackend(values.backend);
  const row = { id: values.one, kind: 'train', preset: r.preset, resolution: r.res, batch: r.batch, label: values.one, reference: {} };
  const out = await runRow(row, { iters: 1, warmup: 2, budgetSec: 3600, peakMemory: true });
  process.stdout.write(JSON.stringify({ ...r, status: out.status, note: out.note, peakBytes: out.peakBytes, peakGpuBytes: out.peakGpuBytes, seconds: out.seconds }) + '\n');
  process.exit(0);
}

const MiB = (b) => (b / 2 ** 20).toFixed(1);
const GB = (b) => (b / 1e9).toFixed(1);
const results = [];
console.log(`peak memory of one training iteration, backend ${values.backend}`);
console.log('preset         res  batch  peak tensor MiB  peak GPU MiB  s/iteration');
for (const spec of values.runs.split(',')) {
  const p = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--one', spec, '--backend', values.backend], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = p.stdout.split('\n').find((l) => l.startsWith('{'));
  if (!line) {
    console.log(`${spec}: failed: ${p.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    continue;
  }
  const r = JSON.parse(line);
  results.push(r);
  console.log(`${r.preset.padEnd(13)} ${String(r.res).padStart(4)}  ${String(r.batch).padStart(5)}  ${(r.peakBytes != null ? MiB(r.peakBytes) : '-').padStart(15)}  ${(r.peakGpuBytes != null ? MiB(r.peakGpuBytes) : '-').padStart(12)}  ${(r.seconds / 3).toFixed(1).padStart(11)}${r.status === 'ok' ? '' : `  ${r.status}: ${r.note}`}`);
}

// Fits: runs of one preset and resolution at two batch sizes.
const fits = [];
for (const key of new Set(results.map((r) => `${r.preset}:${r.res}`))) {
  const rs = results.filter((r) => `${r.preset}:${r.res}` === key).sort((a, b) => a.batch - b.batch);
  if (rs.length < 2) continue;
  const [a, b] = [rs[0], rs.at(-1)];
  const m = resolveConfig(a.preset).model;
  const fit = (field) => {
    if (a[field] == null || b[field] == null) return null;
    const perSample = (b[field] - a[field]) / (b.batch - a.batch);
    const fixed = a[field] - a.batch * perSample;
    return { perSample, fixed, k: perSample / activationElements(m, a.res), f: fixed / paramBytes(a.preset) };
  };
  fits.push({ preset: a.preset, res: a.res, A: activationElements(m, a.res), tensor: fit('peakBytes'), gpu: fit('peakGpuBytes') });
}
if (!fits.length) process.exit(0);
console.log('\nfits: peak = fixed + batch * perSample; perSample = k * A; fixed = f * parameter bytes');
console.log('preset         res          A  | tensor: perSample MiB      k    f  | GPU: perSample MiB      k    f');
const show = (x) => (x ? `${MiB(x.perSample).padStart(14)} ${x.k.toFixed(0).padStart(6)} ${x.f.toFixed(1).padStart(4)}` : '             -      -    -');
for (const f of fits) console.log(`${f.preset.padEnd(13)} ${String(f.res).padStart(4)} ${String(f.A).padStart(10)}  | ${show(f.tensor)}  | ${show(f.gpu)}`);

const main = fits.reduce((a, b) => (b.res > a.res ? b : a));
console.log(`\nextrapolation (k and f from ${main.preset} at ${main.res}, range of k over all fits in brackets):`);
for (const spec of values.targets.split(',')) {
  const t = parse(spec);
  const A = activationElements(resolveConfig(t.preset).model, t.res);
  const P = paramBytes(t.preset);
  for (const kind of ['tensor', 'gpu']) {
    const x = main[kind];
    if (!x) continue;
    const ks = fits.map((f) => f[kind]?.k).filter((k) => k != null);
    const est = (k) => x.f * P + t.batch * k * A;
    console.log(`  ${spec} ${kind === 'tensor' ? 'tensors   ' : 'GPU buffers'}: ${GB(x.f * P)} GB fixed (${x.f.toFixed(1)} x ${GB(P)} GB of parameters) + ${t.batch} x ${x.k.toFixed(0)} B x ${A} elements = ${GB(est(x.k))} GB [${GB(est(Math.min(...ks)))}-${GB(est(Math.max(...ks)))}]`);
  }
}
