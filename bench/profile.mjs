#!/usr/bin/env node
/**
 * Where one training iteration's (or an inference row's encode + decode) time goes on the native backend: time per
 * tfjs kernel (exclusive: a cpu fallback called from a native kernel is
 * counted under its own name), per step of train/step.ts and per pass
 * (forward, backward, R1's inner pass), and the JS time between kernels
 * (engine bookkeeping, tape, gradient functions, the host-side optimizer).
 *
 *   npm run build && node bench/profile.mjs [--row train-mnist-32] [--batch N] [--warmup 1] [--iters 1] [--json out.json]
 *
 * --batch overrides the row's batch (quick looks; the row's own batch is what bench times).
 *
 * Every kernel the native backend runs is wrapped in a timer; a kernel whose
 * function is tfjs-cpu's own is marked `js` (a JS loop of tfjs-backend-cpu),
 * one the addon replaces `native`. The step is known from LREQAdam.step
 * calls (step 1 ends with the encoder's update, step 2 with the decoder's,
 * step 3 with both), the pass from the engine's scope names ('forward' /
 * 'backward' of tf.grad / variableGrads). Peak RSS is read from
 * /proc/self/status (VmHWM) after the timed iterations.
 */
import fs from 'node:fs';
import { tf } from '../dist/tf.js';
import { useBackend } from '../dist/backend/backend.js';
import { ROWS } from '../dist/bench/rows.js';
import { benchModel } from '../dist/bench/run.js';
import { resolveConfig } from '../dist/config/config.js';
import { LREQAdam } from '../dist/train/lreq-adam.js';
import { trainIteration } from '../dist/train/step.js';
import { noiseShape } from '../dist/model/generator.js';
import { seededNormals } from '../dist/train/noise.js';
import { Rng } from '../dist/util/random.js';
import { option } from './args.mjs';

const rowId = option('--row', 'train-mnist-32');
const warmup = Number(option('--warmup', '1'));
const iters = Number(option('--iters', '1'));
const jsonOut = option('--json', null);
const batchOpt = option('--batch', null);

// ---- kernel timers ----------------------------------------------------------
const now = () => performance.now();
let recording = false;
let phase = 'setup';
const stack = []; // open kernel calls: { start, child, name }
const records = new Map();
const peakLive = { bytes: 0, at: '' }; // key -> { name, kind, phase, pass, calls, ms, bytes }

function passOf() {
  const names = tf.engine().state.scopeStack.map((s) => s.name).filter((n) => n === 'forward' || n === 'backward');
  if (names.length === 0) return 'no tape';
  if (names.length === 1) return names[0];
  return `${names[0]} > ${names.slice(1).join(' > ')}`;
}

function outBytes(out) {
  const list = Array.isArray(out) ? out : [out];
  let b = 0;
  for (const t of list) b += t.shape.reduce((a, d) => a * d, 1) * (t.dtype === 'bool' ? 1 : 4);
  return b;
}

// Convolutions by shape: calls, time and GFLOP/s (2 * output pixels * taps * in * out channels).
const CONVS = new Set(['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']);
const convs = new Map();
function convShape(name, args, ms) {
  const { x, dy, filter } = args.inputs;
  const a = args.attrs;
  const xs = x ? x.shape : a.inputShape;
  const fs = filter ? filter.shape : a.filterShape;
  const ci = tf.backend_util.computeConv2DInfo(xs, fs, a.strides, a.dilations ?? 1, a.pad, a.dimRoundingMode);
  const flops = 2 * ci.batchSize * ci.outHeight * ci.outWidth * ci.filterHeight * ci.filterWidth * ci.inChannels * ci.outChannels;
  const key = `${name} x[${xs}] f[${fs}] s${ci.strideHeight}`;
  const e = convs.get(key) ?? { calls: 0, ms: 0, flops: 0 };
  e.calls++; e.ms += ms; e.flops += flops;
  convs.set(key, e);
}

function wrap(kernel, kind) {
  const f = kernel.kernelFunc;
  const name = kernel.kernelName;
  return (args) => {
    if (!recording) return f(args);
    const frame = { start: now(), child: 0, name };
    stack.push(frame);
    let out;
    try {
      out = f(args);
    } finally {
      stack.pop();
    }
    const total = now() - frame.start;
    const live = tf.engine().state.numBytes;
    if (live > peakLive.bytes) Object.assign(peakLive, { bytes: live, at: `${phase}, ${passOf()}, ${name}` });
    if (stack.length > 0) stack[stack.length - 1].child += total;
    const nested = stack.length > 0;
    const key = `${phase}|${passOf()}|${name}|${nested ? 'fallback' : kind}`;
    let r = records.get(key);
    if (!r) records.set(key, (r = { name, kind: nested ? 'js (fallback)' : kind, phase, pass: passOf(), calls: 0, ms: 0, bytes: 0, top: !nested }));
    r.calls++;
    r.ms += total - frame.child;
    r.bytes += outBytes(out);
    if (CONVS.has(name) && !nested) convShape(name, args, total - frame.child);
    return out;
  };
}

// The cpu kernels first: the native backend copies them (and its kernels capture them as fallbacks).
const cpuFuncs = new Set();
for (const k of tf.getKernelsForBackend('cpu')) {
  const w = wrap(k, 'js');
  cpuFuncs.add(w);
  tf.unregisterKernel(k.kernelName, 'cpu');
  tf.registerKernel({ ...k, kernelFunc: w });
}
await useBackend('native');
for (const k of tf.getKernelsForBackend('native')) {
  if (cpuFuncs.has(k.kernelFunc)) continue;
  tf.unregisterKernel(k.kernelName, 'native');
  tf.registerKernel({ ...k, kernelFunc: wrap(k, 'native') });
}

// Arrays of 1 MB or more that tensors get without the pool (cpu kernels, tf.ones / tf.tensor in tfjs or our code).
const unpooled = new Map(); // where -> { count, bytes }
{
  const backend = tf.backend();
  const write = backend.write.bind(backend);
  backend.write = (values, shape, dtype) => {
    if (recording && ArrayBuffer.isView(values) && values.byteLength >= 2 ** 20 && !backend.pool?.owners?.has(values.buffer)) {
      const frames = (new Error().stack ?? '').split('\n').slice(2).map((l) => l.trim().replace(/^at /, '').split(' ')[0]);
      const where = stack.length ? `kernel ${stack[stack.length - 1].name}` : `made by ${frames.filter((f) => !/^(Object\.|Engine\.|MathBackendCPU\.|backend\.write|makeTensor|new|Array\.|Module\.|<anonymous>)/.test(f)).slice(0, 3).join(' < ')}`;
      const e = unpooled.get(where) ?? { count: 0, bytes: 0 };
      e.count++; e.bytes += values.byteLength;
      unpooled.set(where, e);
    }
    return write(values, shape, dtype);
  };
}

// ---- the training state of the bench row ------------------------------------
const found = ROWS.find((r) => r.id === rowId);
if (!found) throw new Error(`no bench row ${rowId}`);
const row = batchOpt ? { ...found, batch: Number(batchOpt) } : found;
const config = resolveConfig(row.preset);
const lod = Math.log2(row.resolution / 4);
const model = benchModel(config, 1);
const averaged = model.clone();
const v = seededNormals(2, row.batch * row.resolution * row.resolution * config.model.channels).map(Math.tanh);
const x = tf.tensor4d(v, [row.batch, row.resolution, row.resolution, config.model.channels]);
const st = {
  model, averaged,
  encoderOpt: new LREQAdam(model, ['encoder', 'mapping_d'], { lr: 0.0015, beta2: config.train.adamBeta2 }),
  decoderOpt: new LREQAdam(model, ['decoder', 'mapping_f'], { lr: 0.0015, beta2: config.train.adamBeta2 }),
  rng: new Rng(3, 101),
};
const level = { lod, blend: 1, inTransition: false };
const opts = { r1Gamma: config.train.r1Gamma, styleMixingProb: config.model.styleMixingProb, dlatentAvgBeta: config.model.dlatentAvgBeta, torchZeroGrad: true };

// Steps from the optimizer calls: 1 (E, D) -> update E -> 2 (F, G) -> update G -> 3 (E, G, F) -> update E, G -> lerp.
// An inference row: encode, then decode (the phase changes at the first kernel of the generator's mapping-free input).
const infer = row.kind === 'infer';
const phases = infer ? ['encode + decode'] : ['step 1', 'step 2', 'step 3', 'step 3', 'averaged update'];
const noise = infer ? Array.from({ length: 2 * (lod + 1) }, (_, k) => {
  const s = noiseShape(k, row.batch);
  return tf.tensor4d(seededNormals(5 + k, s[0] * s[1] * s[2] * s[3]), s);
}) : [];
const phaseWall = new Map();
let updates = 0;
let mark = 0;
const addWall = (p, ms) => phaseWall.set(p, (phaseWall.get(p) ?? 0) + ms);
const origStep = LREQAdam.prototype.step;
LREQAdam.prototype.step = function (...a) {
  if (!recording) return origStep.apply(this, a);
  const t0 = now();
  addWall(phase, t0 - mark);
  const prev = phase;
  phase = 'optimizer updates';
  try {
    return origStep.apply(this, a);
  } finally {
    mark = now();
    addWall(phase, mark - t0);
    phase = phases[++updates] ?? prev;
  }
};

const poolStats = () => ({ ...(tf.backend().pool?.stats ?? {}) });
const faults = () => process.resourceUsage().minorPageFault;
async function iteration(record) {
  const before = poolStats();
  const faults0 = faults();
  const cpu0 = process.cpuUsage();
  recording = record;
  updates = 0;
  phase = phases[0];
  mark = now();
  const t0 = mark;
  if (infer) {
    const img = tf.tidy(() => model.decode(model.encode(x, { lod }), { lod, noise }));
    await img.data();
    img.dispose();
  } else {
    await trainIteration(st, x, level, opts);
  }
  const end = now();
  if (record) addWall(phase, end - mark);
  recording = false;
  const after = poolStats();
  if (after.fresh !== undefined) console.error(`  pool: ${after.fresh - before.fresh} fresh (${((after.freshBytes - before.freshBytes) / 2 ** 20).toFixed(0)} MB), ${after.reused - before.reused} reused`);
  const cpu = process.cpuUsage(cpu0);
  console.error(`  CPU time ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s (system ${(cpu.system / 1e6).toFixed(2)} s)`);
  console.error(`  page faults: ${faults() - faults0} (${((faults() - faults0) * 4 / 1024).toFixed(0)} MB of fresh pages)`);
  return end - t0;
}

for (let i = 0; i < warmup; i++) console.error(`warm-up ${i + 1}: ${(await iteration(false) / 1000).toFixed(2)} s`);
const walls = [];
for (let i = 0; i < iters; i++) {
  walls.push(await iteration(true));
  console.error(`timed ${i + 1}: ${(walls[i] / 1000).toFixed(2)} s`);
}
const status = fs.readFileSync('/proc/self/status', 'utf8');
const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024 / 1024;

// ---- report -------------------------------------------------------------------
const wall = walls.reduce((a, b) => a + b, 0);
const all = [...records.values()];
const sum = (rs) => rs.reduce((a, r) => a + r.ms, 0);
const kernelMs = sum(all);
const pct = (ms) => `${(100 * ms / wall).toFixed(1)}%`;
const fmt = (ms) => (ms / iters).toFixed(0).padStart(7);
const lines = [];
const out = (s) => lines.push(s);
out(`row ${rowId}, ${iters} timed iteration(s): ${(wall / iters / 1000).toFixed(2)} s per iteration, ${(row.batch * iters / wall * 1000).toFixed(2)} img/s; peak RSS ${hwm.toFixed(2)} GiB`);
const pool = tf.backend().pool;
out(`peak bytes held by tensors ${(peakLive.bytes / 2 ** 30).toFixed(2)} GiB (${peakLive.at})`);
if (pool) out(`buffer pool: ${pool.stats.fresh} fresh, ${pool.stats.reused} reused outputs; ${(pool.freeBytes() / 2 ** 30).toFixed(2)} GiB waiting`);
out(`kernels ${fmt(kernelMs)} ms (${pct(kernelMs)}), JS between kernels ${fmt(wall - kernelMs)} ms (${pct(wall - kernelMs)})`);
out('');
out('per step (wall ms per iteration, of which kernels, js kernels, JS between):');
for (const p of [...new Set([...phases, 'optimizer updates'])]) {
  const w = phaseWall.get(p) ?? 0;
  const rs = all.filter((r) => r.phase === p);
  const k = sum(rs), js = sum(rs.filter((r) => r.kind !== 'native'));
  out(`  ${p.padEnd(20)} ${fmt(w)} ${pct(w).padStart(6)}   kernels ${fmt(k)}  js kernels ${fmt(js)}  between ${fmt(w - k)}`);
  const passes = new Map();
  for (const r of rs) passes.set(r.pass, (passes.get(r.pass) ?? 0) + r.ms);
  for (const [pass, ms] of [...passes].sort((a, b) => b[1] - a[1])) out(`      ${pass.padEnd(28)} kernels ${fmt(ms)} ${pct(ms).padStart(6)}`);
}
out('');
out('per kernel (ms per iteration, share of the wall time, calls, output MB per iteration):');
const byName = new Map();
for (const r of all) {
  const key = `${r.name} [${r.kind}]`;
  const e = byName.get(key) ?? { ms: 0, calls: 0, bytes: 0 };
  e.ms += r.ms; e.calls += r.calls; e.bytes += r.bytes;
  byName.set(key, e);
}
for (const [k, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms)) {
  if (e.ms / iters < 1) continue;
  out(`  ${k.padEnd(52)} ${fmt(e.ms)} ${pct(e.ms).padStart(6)} ${String(e.calls / iters).padStart(6)} calls ${(e.bytes / iters / 2 ** 20).toFixed(0).padStart(7)} MB`);
}
out('');
out('heavy kernels by step and pass (ms per iteration):');
for (const r of all.filter((q) => q.ms / iters >= 50).sort((a, b) => b.ms - a.ms)) {
  out(`  ${r.phase.padEnd(18)} ${r.pass.padEnd(24)} ${`${r.name} [${r.kind}]`.padEnd(44)} ${fmt(r.ms)} ${String(r.calls / iters).padStart(5)} calls`);
}
out('');
out('arrays of 1 MB or more given to tensors outside the pool (MB per iteration, count):');
for (const [k, e] of [...unpooled].sort((a, b) => b[1].bytes - a[1].bytes)) {
  out(`  ${k.padEnd(64)} ${(e.bytes / iters / 2 ** 20).toFixed(0).padStart(7)} MB ${String(e.count / iters).padStart(6)}`);
}
out('');
out('convolutions by shape (ms per iteration, calls, GFLOP/s):');
for (const [k, e] of [...convs].sort((a, b) => b[1].ms - a[1].ms)) {
  out(`  ${k.padEnd(64)} ${fmt(e.ms)} ${String(e.calls / iters).padStart(4)} calls ${(e.flops / e.ms / 1e6).toFixed(1).padStart(7)} GFLOP/s`);
}
console.log(lines.join('\n'));
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ row: rowId, iters, walls, peakRssGiB: hwm, phaseWall: Object.fromEntries(phaseWall), records: all, convs: Object.fromEntries(convs) }, null, 1));
