/**
 * Our webgpu convolution kernels (src/backend/webgpu/conv*.ts) against
 * tfjs's cpu kernels on random inputs of every shape class the model uses
 * (3x3 pad 1, 1x1, the fused 4x4 stride 2 pad 1 both ways, batch 1..32,
 * odd and non-square sizes), through the ops and their gradients (double
 * backprop included); the forward's exact accumulation against a float64
 * sum; the dispatches each kernel issues; fallbacks; no leaked tensors or
 * GPU buffers. Skipped, with the reason, when no WebGPU adapter is found
 * (source ../shared/webgpu-cpu/setup.sh to run them on the CPU).
 */
import { afterAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-cpu';
import { tf } from '../../src/tf.js';
import { customKernelsOff, replacedKernel } from '../../src/backend/kernel-adapter.js';
import { filterSplits } from '../../src/backend/webgpu/conv2d-backprop-filter.js';
import { relErr } from '../../src/parity/parity.js';
import { webgpuForTests } from '../setup-backend.js';
import { randArray, size } from './random-array.js';
import { dispatchesOf } from './webgpu-dispatches.js';

const why = (await webgpuForTests()) ?? (customKernelsOff('webgpu') ? 'ALAE_FUSED=0 switches alae\'s webgpu kernels off' : null);
if (why) console.warn(`[webgpu-conv.test] SKIPPED: ${why}`);

type Pad = 'same' | 'valid' | number;
interface Input {
  shape: number[];
  data: Float32Array;
}
const input = (shape: number[], seed: number): Input => ({ shape, data: randArray(size(shape), seed) });

type Fn = (...ts: tf.Tensor[]) => tf.Tensor | tf.Tensor[];

/** Run f on fresh tensors on a backend; every output's values. */
async function runOn(backend: string, inputs: Input[], f: Fn): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const ts = inputs.map((i) => tf.tensor(i.data, i.shape));
  const r = f(...ts);
  const outs = Array.isArray(r) ? r : [r];
  const data = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([...outs, ...ts]);
  return data;
}

let worstSeen = 0;

interface GpuMemory { numBytesInGPU: number }

/** webgpu against cpu on the same inputs; no tensor and no GPU buffer left behind on webgpu. */
async function compare(inputs: Input[], f: Fn, tol = 1e-5): Promise<void> {
  const ref = await runOn('cpu', inputs, f);
  await tf.setBackend('webgpu');
  const tensors = tf.memory().numTensors;
  const bytes = (tf.memory() as unknown as GpuMemory).numBytesInGPU;
  const got = await runOn('webgpu', inputs, f);
  expect(tf.memory().numTensors).toBe(tensors);
  expect((tf.memory() as unknown as GpuMemory).numBytesInGPU).toBe(bytes);
  got.forEach((g, i) => {
    const err = relErr(g, ref[i]);
    worstSeen = Math.max(worstSeen, err);
    expect(err, `output ${i}`).toBeLessThan(tol);
  });
}

/** The dispatches f issues on webgpu, by pipeline label. */
async function dispatches(inputs: Input[], f: Fn): Promise<Record<string, number>> {
  await tf.setBackend('webgpu');
  const ts = inputs.map((i) => tf.tensor(i.data, i.shape));
  let r: tf.Tensor | tf.Tensor[] = [];
  const counts = dispatchesOf(() => (r = f(...ts)));
  const outs = [r].flat();
  // Read back, which submits the queue: GPU memory held for pending commands is released before the next check.
  await Promise.all(outs.map((t) => t.data()));
  tf.dispose([...outs, ...ts]);
  return counts;
}

/** Only the dispatches of alae's programs. */
const ours = (counts: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(counts).filter(([k]) => k.startsWith('Alae')));

interface ConvCase { name: string; x: number[]; w: number[]; strides: number; pad: Pad }

/** The model's shape classes (test-tiny32 .. celeba, batch 1..32) and a few odd ones. */
const convCases: ConvCase[] = [
  { name: '3x3 pad 1, batch 1, 32 -> 32 at 4x4', x: [1, 4, 4, 32], w: [3, 3, 32, 32], strides: 1, pad: 1 },
  { name: '3x3 pad 1, batch 3, 32 -> 16 at 16x16', x: [3, 16, 16, 32], w: [3, 3, 32, 16], strides: 1, pad: 1 },
  { name: '3x3 same, batch 4, 64 -> 64 at 6x6', x: [4, 6, 6, 64], w: [3, 3, 64, 64], strides: 1, pad: 'same' },
  { name: '3x3 pad 1, batch 32, 16 -> 16 at 4x4', x: [32, 4, 4, 16], w: [3, 3, 16, 16], strides: 1, pad: 1 },
  { name: '3x3 pad 1, batch 8, 8 -> 8 at 32x32 (split reduction)', x: [8, 32, 32, 8], w: [3, 3, 8, 8], strides: 1, pad: 1 },
  { name: '3x3 pad 1, odd channels, non-square', x: [3, 9, 7, 5], w: [3, 3, 5, 7], strides: 1, pad: 1 },
  { name: '1x1 from_rgb 3 -> 8', x: [2, 32, 32, 3], w: [1, 1, 3, 8], strides: 1, pad: 'valid' },
  { name: '1x1 to_rgb 16 -> 3', x: [4, 16, 16, 16], w: [1, 1, 16, 3], strides: 1, pad: 'valid' },
  { name: '4x4 pad 1 stride 2 (fused down), 8 -> 16', x: [3, 16, 16, 8], w: [4, 4, 8, 16], strides: 2, pad: 1 },
  { name: '4x4 pad 1 stride 2, batch 1, non-square, 3 -> 64', x: [1, 10, 6, 3], w: [4, 4, 3, 64], strides: 2, pad: 1 },
];

const outShape = (c: ConvCase): number[] =>
  tf.backend_util.computeConv2DInfo(c.x as [number, number, number, number], c.w as [number, number, number, number], c.strides, 1, c.pad).outShape;
const conv = (c: ConvCase) => (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad);

describe.skipIf(why !== null)(`webgpu convolution kernels${why ? ` (skipped: ${why})` : ''}`, () => {
  afterAll(() => {
    console.info(`[webgpu-conv.test] worst relative error vs cpu: ${worstSeen.toExponential(2)}`);
  });

  it('replace tfjs\'s kernels for webgpu (through the kernel adapter), keeping them to fall back to', () => {
    for (const name of ['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']) {
      const theirs = replacedKernel(name, 'webgpu');
      expect(theirs?.kernelName, name).toBe(name);
      expect(tf.getKernel(name, 'webgpu')!.kernelFunc).not.toBe(theirs!.kernelFunc);
    }
  });

  for (const c of convCases) {
    it(`conv2d forward: ${c.name}`, async () => {
      await compare([input(c.x, 1), input(c.w, 2)], conv(c));
    });

    it(`conv2d gradients (backprop input + filter): ${c.name}`, async () => {
      await compare([input(c.x, 4), input(c.w, 5), input(outShape(c), 6)], (x, w, dy) =>
        tf.grads((a: tf.Tensor, b: tf.Tensor) => conv(c)(a, b))([x, w], dy));
    });
  }

  for (const [name, x, w, out] of [
    ['4x4 stride 2 pad 1 (fused up), 16 -> 8', [2, 8, 8, 16], [4, 4, 8, 16], [2, 16, 16, 8]],
    ['4x4 stride 2 pad 1, batch 32, 16 -> 16 at 4x4', [32, 4, 4, 16], [4, 4, 16, 16], [32, 8, 8, 16]],
    ['4x4 stride 2 pad 1, odd output size, non-square', [2, 4, 3, 4], [4, 4, 3, 4], [2, 9, 7, 3]],
  ] as [string, number[], number[], number[]][]) {
    const transpose = (a: tf.Tensor, b: tf.Tensor) => tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, out as [number, number, number, number], 2, 1);
    it(`conv2dTranspose and its gradients: ${name}`, async () => {
      await compare([input(x, 7), input(w, 8)], transpose);
      await compare([input(x, 9), input(w, 10), input(out, 11)], (a, b, dy) => tf.grads(transpose)([a, b], dy));
    });
  }

  it('double backprop through conv2d (as R1 differentiates E twice: 3x3 and the fused 4x4 stride 2)', async () => {
    for (const c of [convCases[1], convCases[8]]) {
      const inner = (x: tf.Tensor, w: tf.Tensor) => tf.grad((v: tf.Tensor) => tf.sum(tf.square(conv(c)(v, w))))(x);
      await compare([input(c.x, 12), input(c.w, 13)], (x, w) => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(inner(a, b))))([x, w]), 2e-5);
    }
  });

  it('fused conv2d: bias, then leaky ReLU / ReLU / linear', async () => {
    for (const [c, activation] of [[convCases[6], 'leakyrelu'], [convCases[1], 'linear'], [convCases[8], 'relu']] as const) {
      await compare([input(c.x, 1), input(c.w, 2), input([c.w[3]], 3)], (x, w, b) =>
        tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: c.strides, pad: c.pad, bias: b, activation, leakyreluAlpha: 0.2 }));
    }
  });

  it.skipIf(process.env.ALAE_WEBGPU_CONV_FP32 === '1')('forward accumulates almost exactly: the float64 sum rounded once (float32 accumulation is not)', async () => {
    const c: ConvCase = { name: '3x3, batch 8, 64 -> 64 at 8x8', x: [8, 8, 8, 64], w: [3, 3, 64, 64], strides: 1, pad: 1 };
    const [xi, wi] = [input(c.x, 14), input(c.w, 15)];
    const [H, W, C, O] = [c.x[1], c.x[2], c.x[3], c.w[3]];
    const sums = new Float64Array(size(outShape(c)));
    const abs = new Float64Array(sums.length);
    for (let i = 0; i < sums.length; i++) {
      const o = i % O, p = Math.floor(i / O), ox = p % W, oy = Math.floor(p / W) % H, n = Math.floor(p / (W * H));
      for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
        const iy = oy + ky - 1, ix = ox + kx - 1;
        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
        for (let ci = 0; ci < C; ci++) {
          const t = xi.data[((n * H + iy) * W + ix) * C + ci] * wi.data[((ky * 3 + kx) * C + ci) * O + o];
          sums[i] += t;
          abs[i] += Math.abs(t);
        }
      }
    }
    const stats = (y: Float32Array) => {
      let rounded = 0, worst = 0;
      y.forEach((v, i) => {
        if (v === Math.fround(sums[i])) rounded++;
        worst = Math.max(worst, (Math.abs(v - sums[i]) - Math.abs(sums[i]) * 2 ** -24) / abs[i]);
      });
      return { rounded: rounded / y.length, worst };
    };
    const ours = stats((await runOn('webgpu', [xi, wi], conv(c)))[0]);
    const f32 = stats((await runOn('cpu', [xi, wi], conv(c)))[0]);
    const show = (r: { rounded: number; worst: number }) => `${(100 * r.rounded).toFixed(1)}% rounded once, worst 2^${Math.log2(r.worst).toFixed(1)} of sum |terms|`;
    console.info(`[webgpu-conv.test] ${c.name}: ours ${show(ours)}; tfjs cpu ${show(f32)}`);
    expect(ours.rounded).toBeGreaterThan(0.99);
    expect(ours.worst).toBeLessThan(2 ** -34);
    expect(f32.rounded).toBeLessThan(0.5);
    expect(f32.worst).toBeGreaterThan(2 ** -30);
  });

  it.skipIf(process.env.ALAE_WEBGPU_CONV_FP32 === '1')('forward keeps what float32 accumulation loses (the error-free transformations survive the shader compiler)', async () => {
    // (1+2^-12)^2 - (1+2^-11) = 2^-24, lost by a float32 product; 1e8 + 1 - 1e8 = 1, lost by a float32 sum
    // (and by TwoSum without opq: Mesa folds it).
    const x: Input = { shape: [2, 1, 1, 3], data: new Float32Array([1 + 2 ** -12, -(1 + 2 ** -11), 0, 1e8, 1, -1e8]) };
    const w: Input = { shape: [1, 1, 3, 2], data: new Float32Array([1 + 2 ** -12, 1, 1, 1, 1, 1]) };
    const [y] = await runOn('webgpu', [x, w], (a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'valid'));
    expect([y[0], y[3]]).toEqual([2 ** -24, 1]);
  });

  it('dispatches: one per forward and input gradient, one or two per filter gradient', async () => {
    const c = convCases[1];
    expect(await dispatches([input(c.x, 1), input(c.w, 2)], conv(c))).toEqual({ AlaeConv2D: 1 });
    expect(await dispatches([input(c.x, 1), input(c.w, 2), input([c.w[3]], 3)], (x, w, b) =>
      tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: c.strides, pad: c.pad, bias: b, activation: 'leakyrelu' }))).toEqual({ AlaeFusedConv2D: 1 });
    expect(await dispatches([input(outShape(c), 1), input(c.w, 2)], (dy, w) =>
      tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, c.x as [number, number, number, number], 1, 1))).toEqual({ AlaeConv2DBackpropInput: 1 });
    for (const d of [convCases[0], convCases[4]]) {
      const K = d.x[0] * d.x[1] * d.x[2];
      const { splits } = filterSplits(size(d.w.slice(0, 3)), d.w[3], K);
      const counts = await dispatches([input(d.x, 1), input(d.w, 2)], (x, w) => tf.grad((b: tf.Tensor) => tf.sum(conv(d)(x, b)))(w));
      expect(ours(counts)).toEqual(splits === 1 ? { AlaeConv2D: 1, AlaeConv2DBackpropFilter: 1 }
        : { AlaeConv2D: 1, AlaeConv2DBackpropFilter: 1, AlaeConv2DBackpropFilterSum: 1 });
    }
    // A long reduction is split (chunks of at least 1024 steps), a short one is not.
    const long = filterSplits(576, 64, 32 * 64 * 64);
    expect(long.splits).toBeGreaterThan(8);
    expect(long.chunk).toBeGreaterThanOrEqual(1024);
    expect(long.chunk * long.splits).toBeGreaterThanOrEqual(32 * 64 * 64);
    expect(filterSplits(576, 64, 4096).splits).toBe(1);
  });

  it('hands what it does not handle to tfjs (dilation, NCHW)', async () => {
    const dilated = (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same', 'NHWC', 2);
    const nchw = (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same', 'NCHW');
    for (const [f, x] of [[dilated, [1, 9, 9, 4]], [nchw, [1, 4, 9, 9]]] as const) {
      const inputs = [input([...x], 1), input([3, 3, 4, 4], 2)];
      const counts = await dispatches(inputs, f);
      expect(ours(counts)).toEqual({});
      expect(Object.keys(counts).length).toBeGreaterThan(0);
      await compare(inputs, f);
    }
  });
});
