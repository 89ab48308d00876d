/**
 * The native backend's elementwise, reduction, data-movement, depthwise and
 * pooling kernels (native/kernels/elementwise.h, src/backend/native-elementwise.ts)
 * against tfjs's cpu backend: the model's broadcast patterns and odd ones
 * (rank 0..5, size-1 dimensions, scalars, empty tensors, tensors large
 * enough to run on the thread pool), gradients through them, the cases that
 * fall back to the cpu kernels, and tensor leaks. Skipped when the addon is
 * not built (or predates these kernels).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-cpu';
import { tf } from '../../src/tf.js';
import { loadNativeAddon, nativeAvailable, registerNativeBackend } from '../../src/backend/native.js';
import { elementwiseKernelNames, hasElementwise, type ElementwiseAddon } from '../../src/backend/native-elementwise.js';
import { packParams } from '../../src/backend/native-abi.js';
import { type Differentiation, blur, downscale2d, leakyRelu, statsAndNorm, styleMod, upscale2d, pixelNorm } from '../../src/nn/ops.js';
import { compareOnNative, compared, input, type Input } from './native-vs-cpu.js';

const available = nativeAvailable() && hasElementwise(loadNativeAddon()) && process.env.ALAE_NATIVE_ELEMENTWISE !== '0';
if (!available) console.warn('[native-elementwise.test] SKIPPED: the native addon is not built, predates the elementwise kernels, or ALAE_NATIVE_ELEMENTWISE=0');


/** Native against cpu on the same inputs (native-vs-cpu.ts): the same bits where tol is 0, else a relative error below tol. */
const compare = (inputs: Input[], f: (...ts: tf.Tensor[]) => tf.Tensor | tf.Tensor[], tol = 1e-6): number => compareOnNative(inputs, f, tol);

/** Which kernels ran on native while f ran (tf.profile). */
async function kernelsRun(f: () => tf.Tensor): Promise<string[]> {
  tf.setBackend('native');
  const p = await tf.profile(() => f());
  p.result && (p.result as tf.Tensor).dispose();
  return p.kernels.map((k) => k.name);
}

// Broadcast shape pairs: the model's, then odd ones.
const broadcastCases: [number[], number[]][] = [
  [[1, 16, 16, 8], [1, 1, 1, 8]], // x - mean, x / std, style modulation
  [[2, 9, 7, 8], [2, 1, 1, 8]],
  [[8], [1, 16, 16, 1]], // noise_weight * noise
  [[8], [3, 5, 5, 1]],
  [[2, 16, 16, 8], [8]], // bias
  [[1, 1, 1, 8], [2, 6, 6, 8]],
  [[2, 5, 5, 3], [2, 5, 5, 3]],
  [[], [3, 4]],
  [[3, 4], []],
  [[], []],
  [[1], [5]],
  [[5], [1]],
  [[7], [7]],
  [[2, 1, 3], [1, 4, 1]],
  [[5, 1, 4, 1, 3], [1, 6, 1, 2, 1]],
  [[2, 3, 4, 5, 6], [3, 1, 5, 1]],
  [[4, 1], [1, 4]],
  [[1, 1, 6], [6]],
  [[0, 3], [1, 3]],
  [[2, 0, 3], [3]],
  // on the thread pool (> 64K elements)
  [[2, 64, 64, 32], [2, 1, 1, 32]],
  [[32], [2, 64, 64, 1]],
  [[300000], [300000]],
  [[1, 64, 1, 40], [1, 1, 70, 1]],
];

const binaryOps: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
  ['add', tf.add],
  ['sub', tf.sub],
  ['mul', tf.mul],
  ['div', tf.div],
];

describe.skipIf(!available)('native elementwise kernels', () => {
  let addon: ElementwiseAddon;
  beforeAll(async () => {
    await registerNativeBackend();
    addon = loadNativeAddon() as unknown as ElementwiseAddon;
    await tf.ready();
  });
  afterAll(() => {
    console.info(`[native-elementwise.test] ${compared.count} comparisons, worst relative error vs cpu: ${compared.worst.toExponential(2)}`);
    tf.setBackend('cpu');
  });

  it('registers its kernels for native only (cpu keeps its own)', () => {
    for (const name of elementwiseKernelNames(addon)) {
      const n = tf.getKernel(name, 'native');
      const c = tf.getKernel(name, 'cpu');
      expect(n, name).toBeDefined();
      expect(n!.kernelFunc, name).not.toBe(c!.kernelFunc);
    }
  });

  for (const [name, op] of binaryOps) {
    it(`${name}: broadcasting, bit-identical to cpu`, () => {
      broadcastCases.forEach(([as, bs], k) => {
        const b = input(bs, 2 * k + 2, name === 'div' ? (v) => (v < 0 ? v - 0.25 : v + 0.25) : undefined);
        compare([input(as, 2 * k + 1), b], (x, y) => op(x, y), 0);
      });
    });
  }

  it('binary ops: special values (NaN, +-Infinity, +-0, division by zero)', () => {
    const vals = Float32Array.from([NaN, Infinity, -Infinity, 0, -0, 1, -1, 3e38, 1e-45]);
    const a: Input = { shape: [9, 1], data: vals };
    const b: Input = { shape: [1, 9], data: vals };
    for (const [, op] of binaryOps) compare([a, b], (x, y) => op(x, y), 0);
  });

  it('binary ops on int32 and mixed ranks fall back to cpu and match', () => {
    for (const [, op] of binaryOps) {
      tf.setBackend('native');
      const r = tf.tidy(() => op(tf.tensor1d([7, -3, 4], 'int32'), tf.tensor1d([2, 2, 3], 'int32')).arraySync());
      tf.setBackend('cpu');
      const e = tf.tidy(() => op(tf.tensor1d([7, -3, 4], 'int32'), tf.tensor1d([2, 2, 3], 'int32')).arraySync());
      expect(r).toEqual(e);
    }
  });

  it('comparisons (bool outputs) with broadcasting and special values, select', () => {
    const cmps: ((a: tf.Tensor, b: tf.Tensor) => tf.Tensor)[] = [tf.greater, tf.greaterEqual, tf.less, tf.lessEqual, tf.equal, tf.notEqual];
    const asF = (t: tf.Tensor) => tf.cast(t, 'float32');
    for (const op of cmps) {
      for (const [as, bs] of [[[1, 16, 16, 8], []], [[2, 64, 64, 32], [32]], [[5, 1, 3], [1, 4, 1]], [[0, 2], [2]]] as [number[], number[]][]) {
        // Rounded values so that equal pairs occur.
        const round = (v: number) => Math.round(v * 2) / 2;
        compare([input(as, 1, round), input(bs, 2, round)], (a, b) => asF(op(a, b)), 0);
      }
      const vals = Float32Array.from([NaN, Infinity, -Infinity, 0, -0, 1]);
      compare([{ shape: [6, 1], data: vals }, { shape: [1, 6], data: vals }], (a, b) => asF(op(a, b)), 0);
    }
    tf.setBackend('native');
    expect(tf.tidy(() => tf.greater(tf.tensor1d([1, 2]), tf.scalar(1.5)).dtype)).toBe('bool');
    compare([input([2, 64, 64, 32], 3), input([2, 64, 64, 32], 4), input([2, 64, 64, 32], 5)], (c, t, e) => tf.where(tf.greater(c, 0), t, e), 0);
    compare([input([1, 3], 3), input([4, 3], 4), input([4, 3], 5)], (c, t, e) => tf.where(tf.greater(c, 0), t, e), 0); // broadcast condition
    compare([input([3, 5], 3), input([3, 5], 4)], (x, dy) => tf.grad((a: tf.Tensor) => tf.leakyRelu(a, 0.2))(x, dy), 0);
  });

  it('split (SplitV) along every axis, uneven sizes', () => {
    compare([input([4, 16, 2, 32, 8], 1)], (x) => tf.split(x, 2, 2), 0); // gradient of upscale2d's concat
    compare([input([4, 16, 16, 2, 8], 2)], (x) => tf.split(x, 2, 3), 0);
    compare([input([6, 5], 3)], (x) => tf.split(x, [1, 3, 1], 1), 0);
    compare([input([6, 5], 4)], (x) => tf.split(x, [2, 4], 0), 0);
    compare([input([2, 64, 2, 64, 16], 5)], (x) => tf.split(x, 2, 2), 0);
    compare([input([2, 16, 16, 8], 6)], (x) => tf.grad((a: tf.Tensor) => upscale2d(a as tf.Tensor4D))(x), 0);
  });

  const unaryCases: [string, (x: tf.Tensor) => tf.Tensor, ((v: number) => number)?][] = [
    ['square', tf.square],
    ['sqrt', tf.sqrt, Math.abs],
    ['rsqrt', tf.rsqrt, (v) => Math.abs(v) + 1e-3],
    ['neg', tf.neg],
    ['relu', tf.relu],
    ['leakyRelu 0.2', (x) => tf.leakyRelu(x, 0.2)],
    ['leakyRelu 0.01', (x) => tf.leakyRelu(x, 0.01)],
    ['step', (x) => tf.step(x, 0.3)],
    ['reciprocal', tf.reciprocal],
  ];
  for (const [name, op, map] of unaryCases) {
    it(`${name}: bit-identical to cpu (small, large, scalar, empty, special values)`, () => {
      for (const [shape, seed] of [[[1, 16, 16, 8], 1], [[2, 64, 64, 32], 2], [[], 3], [[0, 4], 4], [[7], 5]] as [number[], number][]) {
        compare([input(shape, seed, map)], (x) => op(x), 0);
      }
      compare([{ shape: [7], data: Float32Array.from([NaN, Infinity, -Infinity, 0, -0, 1e-45, -2]) }], (x) => op(x), 0);
    });
  }

  const reduceCases: [number[], number | number[] | undefined, boolean][] = [
    [[1, 16, 16, 8], [1, 2], true], // instance-norm statistics
    [[3, 9, 7, 8], [1, 2], true],
    [[2, 16, 16, 8], [0, 1, 2], false], // bias gradient
    [[8, 8], [0], false],
    [[4, 10], -1, true], // pixel norm
    [[4, 10], [1], false],
    [[3, 4, 5], undefined, false], // everything
    [[2, 3, 4, 5, 6], [1, 3], false],
    [[2, 3, 4, 5, 6], [0, 2, 4], true],
    [[6, 2, 5, 2, 3], [2, 4], false], // twice-differentiable downscale2d (rank 6 in the model)
    [[2, 4, 2, 4, 2, 3], [2, 4], false],
    [[3, 7, 5], [1], false], // a count that is not a power of two
    [[1, 1, 5, 1], [0, 1], false],
    [[1, 1, 5, 1], [0, 1, 3], true],
    [[5], [0], false],
    [[5], [], false],
    [[], [], false],
    [[0, 3], [0], false],
    [[3, 0], [1], true],
    // thread pool: middle block, long last axis, wide trailing block
    [[2, 64, 64, 32], [1, 2], true],
    [[1, 128, 128, 64], [0, 1, 2], false],
    [[2, 300000], [1], false],
    [[40, 3000], [1], false],
    [[3, 70000], [0], false],
    [[2, 40, 5000], [1], true],
  ];
  for (const name of ['sum', 'mean'] as const) {
    it(`${name} over axes: every pattern, vs cpu`, () => {
      reduceCases.forEach(([shape, axes, keep], k) => {
        const f = (x: tf.Tensor) => (name === 'sum' ? tf.sum(x, axes, keep) : tf.mean(x, axes, keep));
        compare([input(shape, 10 + k)], f);
      });
    });
  }

  it('mean of large blocks agrees with a double-precision reference', () => {
    const x = input([1, 256, 256, 4], 77);
    tf.setBackend('native');
    const got = tf.tidy(() => tf.mean(tf.tensor(x.data, x.shape), [1, 2]).dataSync() as Float32Array);
    for (let c = 0; c < 4; c++) {
      let s = 0;
      for (let i = c; i < x.data.length; i += 4) s += x.data[i];
      expect(Math.abs(got[c] - s / 65536)).toBeLessThanOrEqual(Math.abs(s / 65536) * 1e-7 + 1e-12);
    }
  });

  it('slice: strided (native), contiguous (cpu view), rank 1..5', () => {
    const cases: [number[], number[], number[]][] = [
      [[5, 5, 16, 8], [1, 0, 0, 0], [4, 4, 16, 8]], // transformKernel
      [[5, 5, 16, 8], [0, 1, 0, 0], [4, 4, 16, 8]],
      [[5, 5, 16, 8], [1, 1, 0, 0], [4, 4, 16, 8]],
      [[4, 6, 8], [0, 1, 2], [4, 3, 5]],
      [[4, 6, 8], [1, 0, 0], [2, 6, 8]], // contiguous
      [[2, 64], [0, 32], [2, 32]], // styles split in styleMod
      [[10], [3], [5]],
      [[2, 3, 4, 5, 6], [1, 0, 1, 2, 3], [1, 3, 2, 2, 3]],
      [[2, 3, 4], [0, 0, 0], [2, 0, 4]],
      [[18, 18, 32, 32], [1, 1, 0, 0], [16, 16, 32, 32]], // thread pool
    ];
    cases.forEach(([shape, begin, sz], k) => compare([input(shape, 20 + k)], (x) => tf.slice(x, begin, sz), 0));
  });

  it('concat along every axis, several inputs, empty inputs', () => {
    compare([input([2, 4, 4, 1, 8], 1), input([2, 4, 4, 1, 8], 2)], (a, b) => tf.concat([a, b], 3), 0); // upscale2d
    compare([input([2, 4, 1, 8, 8], 1), input([2, 4, 1, 8, 8], 2)], (a, b) => tf.concat([a, b], 2), 0);
    compare([input([2, 3], 3), input([2, 5], 4), input([2, 1], 5)], (a, b, c) => tf.concat([a, b, c], 1), 0);
    compare([input([2, 3], 3), input([4, 3], 4)], (a, b) => tf.concat([a, b], 0), 0);
    compare([input([2, 3], 3), input([2, 0], 4), input([2, 2], 5)], (a, b, c) => tf.concat([a, b, c], -1), 0);
    compare([input([1, 64, 64, 32], 6), input([1, 64, 64, 32], 7)], (a, b) => tf.concat([a, b], 3), 0);
  });

  it('pad (constant 0 and other values), transpose', () => {
    compare([input([2, 6, 6, 3], 1)], (x) => tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), 0);
    compare([input([3, 3, 4, 5], 2)], (x) => tf.pad(x, [[1, 1], [1, 1], [0, 0], [0, 0]]), 0); // transformKernel
    compare([input([5, 5], 3)], (x) => tf.pad(x, [[1, 2], [0, 3]], 2.5), 0);
    compare([input([4], 4)], (x) => tf.pad(x, [[0, 0]]), 0);
    compare([input([2, 3, 4, 5], 5)], (x) => tf.transpose(x, [0, 3, 1, 2]), 0);
    compare([input([2, 3, 4, 5], 6)], (x) => tf.transpose(x), 0);
    compare([input([64, 300], 7)], (x) => tf.transpose(x), 0);
  });

  const dwCases: { name: string; x: number[]; k: number; pad: 'same' | 'valid' | number; dil?: number; mult?: number; stride?: number }[] = [
    { name: 'blur 3x3 pad 1', x: [2, 16, 16, 8], k: 3, pad: 1 },
    { name: '3x3 same, odd sizes', x: [3, 7, 5, 3], k: 3, pad: 'same' },
    { name: '3x3 valid', x: [1, 6, 9, 4], k: 3, pad: 'valid' },
    { name: '5x5 same, dilation 2', x: [1, 11, 11, 2], k: 5, pad: 'same', dil: 2 },
    { name: '2x2 valid', x: [2, 5, 5, 5], k: 2, pad: 'valid' },
    { name: 'thread pool', x: [1, 64, 64, 32], k: 3, pad: 1 },
    { name: 'channel multiplier 2 (cpu)', x: [1, 6, 6, 3], k: 3, pad: 1, mult: 2 },
    { name: 'stride 2 (cpu)', x: [1, 8, 8, 3], k: 3, pad: 1, stride: 2 },
  ];
  for (const c of dwCases) {
    it(`depthwiseConv2d and its gradients: ${c.name}`, () => {
      const w = [c.k, c.k, c.x[3], c.mult ?? 1];
      const f = (x: tf.Tensor, f: tf.Tensor) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.stride ?? 1, c.pad, 'NHWC', c.dil ?? 1);
      compare([input(c.x, 1), input(w, 2)], f);
      if ((c.dil ?? 1) > 1) {
        // tfjs has no gradient for dilated depthwise convolutions: the forward is all there is to compare.
        expect(() => tf.tidy(() => tf.grads(f)([tf.zeros(c.x), tf.zeros(w)]))).toThrow(/dilation/);
      } else {
        const yShape = tf.tidy(() => f(tf.zeros(c.x), tf.zeros(w)).shape);
        compare([input(c.x, 3), input(w, 4), input(yShape, 5)], (x, fw, dy) => tf.grads(f)([x, fw], dy));
      }
    });
  }

  it('avgPool and its gradient', () => {
    const cases: [number[], number, number, 'valid' | 'same'][] = [
      [[2, 16, 16, 8], 2, 2, 'valid'], // downscale2d
      [[1, 10, 10, 4], 3, 3, 'valid'], // windows that do not cover the edge
      [[1, 9, 7, 3], 3, 1, 'valid'], // overlapping: the gradient is cpu's
      [[1, 9, 9, 3], 3, 2, 'same'], // padding: cpu
      [[2, 64, 64, 32], 2, 2, 'valid'],
      [[1, 2, 2, 1], 2, 2, 'valid'],
    ];
    for (const [x, f, s, pad] of cases) {
      const pool = (t: tf.Tensor) => tf.avgPool(t as tf.Tensor4D, f, s, pad);
      compare([input(x, 1)], pool);
      const yShape = tf.tidy(() => pool(tf.zeros(x)).shape);
      compare([input(x, 2), input(yShape, 3)], (t, dy) => tf.grad(pool)(t, dy));
    }
  });

  it('nearest 2x up-sampling (upscale2d), bit-identical to cpu; other resizes are cpu\'s', () => {
    const cases: [number[], [number, number], boolean, boolean][] = [
      [[2, 4, 4, 8], [8, 8], false, false], // upscale2d
      [[3, 1, 5, 3], [2, 10], false, false], // non-square, one row
      [[4, 32, 32, 16], [64, 64], false, false], // large enough for the thread pool
      [[1, 3, 3, 2], [6, 6], true, false], // align corners: cpu
      [[1, 3, 3, 2], [6, 6], false, true], // half-pixel centres: cpu
      [[1, 3, 3, 2], [7, 5], false, false], // not 2x: cpu
    ];
    for (const [x, size, align, half] of cases) {
      compare([input(x, 7)], (t) => tf.image.resizeNearestNeighbor(t as tf.Tensor4D, size, align, half), 0);
    }
  });

  it('the model blocks forward (fast and twice-differentiable primitives)', () => {
    const block = (d: Differentiation) => (x: tf.Tensor, style: tf.Tensor, nw: tf.Tensor, noise: tf.Tensor, bias: tf.Tensor) => {
      let h = tf.add(x, tf.mul(nw, noise)) as tf.Tensor4D;
      h = leakyRelu(tf.add(h, bias), d) as tf.Tensor4D;
      const s = statsAndNorm(h, 1e-8);
      h = styleMod(s.normed, style);
      return [downscale2d(blur(h, d), d), upscale2d(h), s.mean, s.std, pixelNorm(h)];
    };
    const ins = [input([2, 16, 16, 8], 1), input([2, 16], 2), input([8], 3), input([2, 16, 16, 1], 4), input([8], 5)];
    compare(ins, (...t) => block('none')(t[0], t[1], t[2], t[3], t[4]));
    compare(ins, (...t) => block('once')(t[0], t[1], t[2], t[3], t[4]));
  });

  it('gradients through the model blocks match cpu (fast and twice-differentiable)', () => {
    const loss = (diff: Differentiation) => (x: tf.Tensor, style: tf.Tensor, nw: tf.Tensor, noise: tf.Tensor, bias: tf.Tensor) => {
      let h = tf.add(x, tf.mul(nw, noise)) as tf.Tensor4D;
      h = leakyRelu(tf.add(h, bias), diff) as tf.Tensor4D;
      h = statsAndNorm(h, 1e-5).normed;
      h = styleMod(h, style);
      const d = downscale2d(blur(h, diff), diff);
      const s = statsAndNorm(d, 1e-5);
      return tf.mean(tf.square(tf.sub(tf.add(s.mean, s.std), 0.5)));
    };
    const ins = [input([2, 16, 16, 8], 1), input([2, 16], 2), input([8], 3), input([2, 16, 16, 1], 4), input([8], 5)];
    const g = (diff: Differentiation) => (...t: tf.Tensor[]) => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor, e: tf.Tensor) => loss(diff)(a, b, c, d, e))(t);
    expect(compare(ins, g('none'), 1e-5)).toBeLessThanOrEqual(1e-5);
    compare(ins, g('once'), 1e-5);
  });

  it('the model kernels run natively (no cpu fallback in the profile)', async () => {
    const x = tf.tidy(() => tf.randomNormal([1, 16, 16, 8]));
    const names = await kernelsRun(() => tf.tidy(() => downscale2d(blur(statsAndNorm(x as tf.Tensor4D, 1e-5).normed))));
    x.dispose();
    for (const k of ['Mean', 'Sub', 'Square', 'Sqrt', 'Add', 'RealDiv', 'DepthwiseConv2dNative', 'AvgPool']) expect(names).toContain(k);
  });

  it('addon entry points reject bad arguments instead of overrunning', () => {
    const a = new Float32Array(4), b = new Float32Array(4), o = new Float32Array(3);
    expect(() => addon.ewBinary(0, a, b, o, Int32Array.from([4]), Int32Array.from([4]))).toThrow(/too short/);
    expect(() => addon.ewBinary(0, a, b, new Float32Array(4), Int32Array.from([4]), Int32Array.from([3]))).toThrow(/broadcast/);
    expect(() => addon.ewBinary(9, a, b, new Float32Array(4), Int32Array.from([4]), Int32Array.from([4]))).toThrow(/unknown/);
    expect(() => addon.ewReduce(a, o, Int32Array.from([2, 3]), Int32Array.from([1, 0]), 0)).toThrow(/too short/);
    expect(() => addon.ewCopy(a, o, Int32Array.from([2, 2]), Int32Array.from([2, 1]), Int32Array.from([2, 1]), 1, 0)).toThrow(/too short/);
    expect(() => addon.ewUnary(0, a, o, 0)).toThrow(/too short/);
    expect(() => addon.ewDepthwise(a, a, a, Int32Array.from([1, 2, 2, 2, 2, 2, 1]), Int32Array.from([0, 0]))).toThrow(/too short/);
    expect(() => addon.ewAvgPool(a, a, Int32Array.from([1, 2, 2, 1, 2, 2, 2, 2, 2, 2]))).toThrow(/outside/);
    expect(() => addon.ewAvgPool(a, a, Int32Array.from([1, 2, 2, 1, 1, 1, 2, 2, 2]))).toThrow(/params must have 10 entries/);
    expect(() => addon.ewUpsample2x(a, a, Int32Array.from([1, 1, 1, 1, 1]))).toThrow(/params must have 4 entries/);
    expect(() => addon.ewUpsample2x(a, a, Int32Array.from([1, 1, -1, 1]))).toThrow(/params: W is below 0 \(-1\)/);
  });

  it('takes its op codes and params layouts from the addon (no copy in TypeScript)', () => {
    // Every op the addon exports is a registered native kernel, and the codes run the op they name.
    expect(Object.keys(addon.ops.binary).sort()).toEqual(['Add', 'Multiply', 'RealDiv', 'Sub']);
    for (const name of [...Object.keys(addon.ops.binary), ...Object.keys(addon.ops.compare), ...Object.keys(addon.ops.unary)]) {
      expect(tf.getKernel(name, 'native')?.kernelFunc, name).not.toBe(tf.getKernel(name, 'cpu')?.kernelFunc);
    }
    const a = Float32Array.from([6]), b = Float32Array.from([3]), o = new Float32Array(1), one = Int32Array.from([1]);
    const expected: Record<string, number> = { Add: 9, Sub: 3, Multiply: 18, RealDiv: 2 };
    for (const [name, code] of Object.entries(addon.ops.binary)) {
      addon.ewBinary(code, a, b, o, one, one);
      expect(o[0], name).toBe(expected[name]);
    }
    // A params array follows the addon's layout; a field it does not name, or one missing, throws.
    expect(Array.from(packParams(addon, 'upsample', { N: 1, H: 2, W: 3, C: 4 }))).toEqual(
      addon.layouts.upsample.map((f) => ({ N: 1, H: 2, W: 3, C: 4 } as Record<string, number>)[f]));
    expect(() => packParams(addon, 'upsample', { N: 1, H: 2, W: 3 })).toThrow(/no value for 'C'/);
    expect(() => packParams(addon, 'upsample', { N: 1, H: 2, W: 3, C: 4, D: 5 })).toThrow(/takes no D/);
  });
});
