#!/usr/bin/env node
/**
 * Where two backends part ways on a training parity case: runs the case
 * (loss_ae by default) of a reference folder on each backend, recording
 * every Conv2D (inputs and output) and the input of every leaky-ReLU mask
 * (the Step kernel of the twice-differentiable leaky ReLU's gradient, run on
 * its value y, which is > 0 exactly where its input is), then prints
 *   - each backend's worst gradient against the reference;
 *   - every leaky-ReLU value that lands on different sides of the kink;
 *   - each Conv2D's distance from the exact (float64) sum of its own
 *     inputs, in unit roundoffs (2^-24) of the sum of |terms|.
 * Fused kernels named Alae* are unregistered so that both backends run the
 * same kernel sequence. --tfjs-conv runs tfjs-backend-webgpu's own
 * convolutions on webgpu instead of ours (src/backend/webgpu/). Holds the
 * recorded tensors in memory (under 1 GB for fused128).
 *
 *   npm run build && source ../shared/webgpu-cpu/setup.sh &&
 *   node bench/parity-trace.mjs [--case loss_ae|loss_g] [--dir ../shared/alae-reference/fused128] [--backends native,webgpu] [--tfjs-conv]
 */
import path from 'node:path';
import { tf } from '../dist/tf.js';
import { useBackend } from '../dist/backend/backend.js';
import { importCheckpoint } from '../dist/io/import.js';
import { AlaeModel } from '../dist/model/alae.js';
import { f32, readSafetensors } from '../dist/io/safetensors.js';
import { fromTorchLayout, nchwToNhwc } from '../dist/io/layout.js';
import { lossAE, lossG } from '../dist/train/losses.js';
import { sumParts } from '../dist/train/grad-parts.js';
import { relErr, ZERO_FLOOR } from '../dist/parity/parity.js';
import { replacedKernel } from '../dist/backend/kernel-adapter.js';
import { flag, option } from './args.mjs';

const caseName = option('--case', 'loss_ae');
const dir = option('--dir', '../shared/alae-reference/fused128');
const backends = option('--backends', 'native,webgpu').split(',');
const loss = { loss_ae: lossAE, loss_g: lossG }[caseName];
if (!loss) throw new Error(`--case: loss_ae or loss_g, not ${caseName}`);

const ckpt = await importCheckpoint(path.join(dir, 'checkpoint.zip.pth'));
const expected = (await readSafetensors(path.join(dir, 'expected.safetensors'))).tensors;
const raw = (n) => ({ data: f32(expected.get(n)), shape: expected.get(n).shape });

/** Run the case on one backend; the recorded kernels and the gradients. */
async function run(backendName) {
  await useBackend(backendName);
  const name = tf.getBackend();
  const backend = tf.backend();
  for (const k of tf.getKernelsForBackend(name)) if (k.kernelName.startsWith('Alae')) tf.unregisterKernel(k.kernelName, name);
  if (name === 'webgpu' && flag('--tfjs-conv')) {
    for (const kernelName of ['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']) {
      tf.unregisterKernel(kernelName, name);
      tf.registerKernel(replacedKernel(kernelName, 'webgpu'));
    }
  }
  const held = [];
  for (const kernelName of ['Conv2D', 'Step']) {
    const k = tf.getKernel(kernelName, name);
    tf.unregisterKernel(kernelName, name);
    tf.registerKernel({ ...k, kernelFunc: (a) => {
      const out = k.kernelFunc(a);
      const ins = kernelName === 'Conv2D' ? [a.inputs.x, a.inputs.filter] : [a.inputs.x];
      for (const t of [...ins, out]) backend.incRef(t.dataId);
      held.push({ kernelName, ins, out, attrs: a.attrs });
      return out;
    } });
  }
  const cfg = ckpt.config;
  const model = AlaeModel.fromArrays(cfg, ckpt.trained, dir);
  const image = (n) => {
    const r = nchwToNhwc(raw(n).data, raw(n).shape);
    return tf.tensor4d(r.data, r.shape);
  };
  const noise = [...expected.keys()].filter((k) => k.startsWith(`${caseName}/noise_`)).sort().map(image);
  const z = tf.tensor(raw('input/z').data, raw('input/z').shape);
  const r = await loss(model, { z, noise }, { lod: cfg.model.layerCount - 1, blend: 1 });
  const read = async (t) => ({ shape: t.shape, data: new Float32Array(await backend.read(t.dataId)) });
  const rec = [];
  for (const h of held) rec.push({ kernelName: h.kernelName, attrs: h.attrs, ins: await Promise.all(h.ins.map(read)), out: await read(h.out) });
  // The case's error as the parity command computes it: tensors zero to float32 precision in both are skipped.
  const pairs = [];
  for (const [n, g] of r.grads) {
    const key = `${caseName}/grad/${n}`;
    if (!expected.has(key)) continue;
    const spec = model.specs.find((s) => s.name === n);
    const sum = sumParts(g);
    pairs.push({ n, ours: await sum.data(), ref: fromTorchLayout(raw(key).data, raw(key).shape, spec.layout).data });
    sum.dispose();
  }
  const maxAbs = (a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const floor = ZERO_FLOOR * Math.max(...pairs.map((p) => maxAbs(p.ref)));
  let worst = { err: 0, name: '' };
  for (const p of pairs) {
    if (maxAbs(p.ref) < floor && maxAbs(p.ours) < floor) continue;
    const err = relErr(p.ours, p.ref);
    if (err > worst.err) worst = { err, name: p.n };
  }
  console.log(`${backendName}: worst gradient ${worst.err.toExponential(2)} (${worst.name}), ${rec.length} kernels recorded`);
  return rec;
}

/** max over outputs of |y - exact| / (2^-24 * sum |terms|), the exact sum of the recorded inputs in float64. */
function convError(e) {
  const [x, w] = e.ins;
  const [N, H, W, C] = x.shape;
  const [KH, KW, , O] = w.shape;
  const ci = tf.backend_util.computeConv2DInfo(x.shape, w.shape, e.attrs.strides, e.attrs.dilations ?? 1, e.attrs.pad, e.attrs.dimRoundingMode);
  const { outHeight: OH, outWidth: OW, strideHeight: sH, strideWidth: sW } = ci;
  const { top, left } = ci.padInfo;
  let worst = 0;
  for (let n = 0; n < N; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let o = 0; o < O; o++) {
    let sum = 0, abs = 0;
    for (let ky = 0; ky < KH; ky++) {
      const iy = oy * sH - top + ky;
      if (iy < 0 || iy >= H) continue;
      for (let kx = 0; kx < KW; kx++) {
        const ix = ox * sW - left + kx;
        if (ix < 0 || ix >= W) continue;
        for (let c = 0; c < C; c++) {
          const t = x.data[((n * H + iy) * W + ix) * C + c] * w.data[((ky * KW + kx) * C + c) * O + o];
          sum += t;
          abs += Math.abs(t);
        }
      }
    }
    const y = e.out.data[((n * OH + oy) * OW + ox) * O + o];
    if (abs > 0) worst = Math.max(worst, Math.abs(y - sum) / (2 ** -24 * abs));
  }
  return worst;
}

const [a, b] = [await run(backends[0]), await run(backends[1])];
if (a.length !== b.length || a.some((e, i) => e.kernelName !== b[i].kernelName)) throw new Error('the backends ran different kernel sequences');
let step = 0;
let flips = 0;
for (let i = 0; i < a.length; i++) {
  if (a[i].kernelName !== 'Step') continue;
  const xa = a[i].ins[0].data, xb = b[i].ins[0].data;
  for (let j = 0; j < xa.length; j++) {
    if ((xa[j] > 0) !== (xb[j] > 0)) {
      flips++;
      console.log(`leaky ReLU ${step} [${a[i].ins[0].shape}] element ${j}: ${backends[0]} ${xa[j].toExponential(3)}, ${backends[1]} ${xb[j].toExponential(3)}`);
    }
  }
  step++;
}
console.log(`${flips} of the inputs of ${step} leaky ReLUs on different sides of the kink`);
console.log(`Conv2D: distance from the exact sum of its own inputs, in 2^-24 * sum |terms| (${backends.join(' / ')})`);
for (let i = 0; i < a.length; i++) {
  if (a[i].kernelName !== 'Conv2D') continue;
  console.log(`  [${a[i].ins[0].shape}] * [${a[i].ins[1].shape}] stride ${a[i].attrs.strides}: ${convError(a[i]).toFixed(2)} / ${convError(b[i]).toFixed(2)}`);
}
