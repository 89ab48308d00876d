/**
 * The native backend against tfjs's cpu backend: every replaced kernel on the
 * model's shapes (3x3 pad 1, 4x4 stride 2 pad 1, 1x1, conv2dTranspose 4x4
 * stride 2 pad 1, batch 1..8, channels 1..64, non-square), gradients,
 * double backprop, and tensor leaks. Skipped (with the reason) only when the
 * addon is not built.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-cpu';
import { tf } from '../../src/tf.js';
import { randArray, size } from './random-array.js';
import { compareOnNative, compared, input, relErr, runOn, useNativeBackend, type Input } from './native-vs-cpu.js';
import {
  convAccumulation, loadNativeAddon, nativeAvailable, nativeInfo, parseConvAccumulation, setConvAccumulation,
  type NativeAddon,
} from '../../src/backend/native.js';
import { packParams } from '../../src/backend/native-abi.js';

const available = nativeAvailable();
let whyNot = '';
if (!available) {
  try {
    loadNativeAddon();
  } catch (e) {
    whyNot = e instanceof Error ? e.message : String(e);
  }
  console.warn(`[native.test] SKIPPED: the native addon is not built.\n${whyNot}`);
}

// CI sets ALAE_REQUIRE_NATIVE=1 so a failed addon build fails instead of skipping.
describe.runIf(process.env.ALAE_REQUIRE_NATIVE === '1')('native addon required (ALAE_REQUIRE_NATIVE=1)', () => {
  it('is built and loads', () => {
    expect(whyNot).toBe('');
    expect(available).toBe(true);
  });
});


/** Native against cpu on the same inputs (native-vs-cpu.ts), within a relative error of tol. */
const compare = (inputs: Input[], f: (...ts: tf.Tensor[]) => tf.Tensor | tf.Tensor[], tol = 1e-5): number => compareOnNative(inputs, f, tol);

/** Leaky ReLU built from twice-differentiable ops (as src/nn/ops.ts does). */
const leaky = (x: tf.Tensor) => tf.add(tf.mul(x, 0.2), tf.mul(tf.relu(x), 0.8));

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  strides: number | [number, number];
  pad: Pad;
  dilations?: number | [number, number];
}

const convCases: ConvCase[] = [
  { name: '3x3 pad 1 stride 1', x: [2, 8, 8, 16], w: [3, 3, 16, 32], strides: 1, pad: 1 },
  { name: '3x3 same, batch 8, 64 -> 64', x: [8, 5, 5, 64], w: [3, 3, 64, 64], strides: 1, pad: 'same' },
  { name: '3x3 pad 1, odd channels', x: [3, 9, 7, 5], w: [3, 3, 5, 7], strides: 1, pad: 1 },
  { name: '4x4 pad 1 stride 2', x: [4, 8, 8, 8], w: [4, 4, 8, 12], strides: 2, pad: 1 },
  { name: '4x4 pad 1 stride 2, non-square', x: [1, 10, 6, 3], w: [4, 4, 3, 64], strides: 2, pad: 1 },
  { name: '1x1', x: [1, 6, 10, 64], w: [1, 1, 64, 1], strides: 1, pad: 'valid' },
  { name: '1x1, 1 channel in', x: [5, 4, 4, 1], w: [1, 1, 1, 33], strides: 1, pad: 0 },
  { name: '3x3 valid, 3 -> 64', x: [8, 5, 5, 3], w: [3, 3, 3, 64], strides: 1, pad: 'valid' },
  { name: 'non-square kernel and strides', x: [2, 7, 12, 6], w: [3, 5, 6, 4], strides: [2, 1], pad: 'same' },
  { name: 'explicit asymmetric padding', x: [2, 6, 7, 4], w: [3, 3, 4, 5], strides: 1, pad: [[0, 0], [1, 2], [2, 0], [0, 0]] },
  { name: 'first layer 3 -> 8 (long reduction: split over K)', x: [8, 32, 32, 3], w: [3, 3, 3, 8], strides: 1, pad: 1 },
  { name: 'stride 3 valid', x: [1, 11, 11, 2], w: [2, 2, 2, 3], strides: 3, pad: 'valid' },
];

describe.skipIf(!available)('native backend', () => {
  const native = useNativeBackend();
  beforeAll(() => console.info(`[native.test] addon: ${JSON.stringify(nativeInfo())}`));
  afterAll(() => console.info(`[native.test] worst relative error vs cpu: ${compared.worst.toExponential(2)}`));

  it('registers every cpu kernel for native', () => {
    const cpu = tf.getKernelsForBackend('cpu').map((k) => k.kernelName).sort();
    const ours = new Set(tf.getKernelsForBackend('native').map((k) => k.kernelName));
    expect(cpu.filter((k) => !ours.has(k))).toEqual([]);
  });

  it('gemm (raw addon): all transpose combinations, odd sizes, accumulate', () => {
    for (const [M, N, K] of [[1, 1, 1], [7, 17, 5], [33, 70, 300], [150, 40, 600], [5, 3, 2000], [100, 70, 300], [20, 20, 5000]]) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const A = randArray(M * K, M + K), B = randArray(K * N, N + 3 * K);
          const C = randArray(M * N, 7), C0 = C.slice();
          native.addon.gemm(A, B, C, M, N, K, ta, tb, true);
          const ref = new Float32Array(M * N);
          for (let i = 0; i < M; i++) {
            for (let j = 0; j < N; j++) {
              let s = 0;
              for (let k = 0; k < K; k++) s += (ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
              ref[i * N + j] = C0[i * N + j] + s;
            }
          }
          expect(relErr(C, ref), `${M}x${N}x${K} ${ta} ${tb}`).toBeLessThan(1e-5);
        }
      }
    }
  });

  it('gemm (raw addon) rejects short arrays instead of overrunning', () => {
    expect(() => native.addon.gemm(new Float32Array(3), new Float32Array(4), new Float32Array(4), 2, 2, 2, false, false, false)).toThrow(/too short/);
    // An empty array has no data pointer; its length is checked all the same.
    expect(() => native.addon.gemm(new Float32Array(0), new Float32Array(4), new Float32Array(4), 2, 2, 2, false, false, false)).toThrow(/a is too short/);
  });

  for (const c of convCases) {
    it(`conv2d forward: ${c.name}`, () => {
      compare([input(c.x, 1), input(c.w, 2)], (x, w) =>
        tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad, 'NHWC', c.dilations ?? 1));
    });

    it(`conv2d gradients (backprop input + filter): ${c.name}`, () => {
      const dyShape = tf.backend_util.computeConv2DInfo(
        c.x as [number, number, number, number], c.w as [number, number, number, number], c.strides, 1, c.pad).outShape;
      compare([input(c.x, 3), input(c.w, 4), input(dyShape, 5)], (x, w, dy) => {
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad));
        return g([x, w], dy);
      });
    });
  }

  it('conv2d with dilation 2', () => {
    compare([input([1, 9, 9, 4], 6), input([3, 3, 4, 4], 7)], (x, w) =>
      tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same', 'NHWC', 2));
  });

  for (const [name, x, w, outShape] of [
    ['4x4 stride 2 pad 1 (the model upsample)', [2, 4, 4, 16], [4, 4, 8, 16], [2, 8, 8, 8]],
    ['4x4 stride 2 pad 1, batch 8, 64 -> 32, non-square', [8, 3, 5, 64], [4, 4, 32, 64], [8, 6, 10, 32]],
    ['4x4 stride 2 pad 1, 1 channel', [1, 5, 5, 1], [4, 4, 1, 1], [1, 10, 10, 1]],
  ] as [string, number[], number[], number[]][]) {
    it(`conv2dTranspose: ${name}`, () => {
      compare([input(x, 8), input(w, 9)], (a, b) =>
        tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, outShape as [number, number, number, number], 2, 1));
    });

    it(`conv2dTranspose gradients: ${name}`, () => {
      compare([input(x, 10), input(w, 11), input(outShape, 12)], (a, b, dy) =>
        tf.grads((p: tf.Tensor, q: tf.Tensor) =>
          tf.conv2dTranspose(p as tf.Tensor4D, q as tf.Tensor4D, outShape as [number, number, number, number], 2, 1))([a, b], dy));
    });
  }

  it('conv2dTranspose where a phase gets no taps (kernel 1x1, stride 2)', () => {
    compare([input([2, 3, 4, 5], 13), input([1, 1, 6, 5], 14)], (a, b) =>
      tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [2, 6, 8, 6], 2, 'same'));
  });

  it('double backprop: gradient of a gradient norm through conv2d (R1 penalty shape)', () => {
    // D(x) = sum(conv(leaky(conv(x, w1, stride 1 pad 1)), w2, stride 2 pad 1)^2);
    // penalty = |dD/dx|^2, differentiated w.r.t. x, w1 and w2.
    const f = (x: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor) => {
      const penalty = (xx: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => {
        const g = tf.grad((v: tf.Tensor) => {
          const h = leaky(tf.conv2d(v as tf.Tensor4D, a as tf.Tensor4D, 1, 1));
          return tf.sum(tf.square(tf.conv2d(h as tf.Tensor4D, b as tf.Tensor4D, 2, 1)));
        })(xx);
        return tf.sum(tf.square(g));
      };
      return tf.grads(penalty)([x, w1, w2]);
    };
    compare([input([2, 8, 8, 3], 15), input([3, 3, 3, 8], 16), input([4, 4, 8, 4], 17)], f);
  });

  it('matMul: 2-D with every transpose combination', () => {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = ta ? [37, 19] : [19, 37], b = tb ? [23, 37] : [37, 23];
      compare([input(a, 20), input(b, 21)], (p, q) => tf.matMul(p, q, ta, tb));
    }
  });

  it('batched matMul with broadcast batch dimensions', () => {
    compare([input([3, 4, 5], 22), input([3, 5, 6], 23)], (p, q) => tf.matMul(p, q));
    compare([input([2, 3, 4, 5], 24), input([3, 6, 5], 25)], (p, q) => tf.matMul(p, q, false, true));
    compare([input([1, 7, 9], 26), input([4, 9, 2], 27)], (p, q) => tf.matMul(p, q));
    compare([input([64, 4, 4], 28), input([64, 4, 4], 29)], (p, q) => tf.matMul(p, q, true, false));
  });

  it('matMul (linear layer) gradients and double backprop', () => {
    compare([input([8, 64], 30), input([64, 32], 31)], (x, w) =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(tf.grad((v: tf.Tensor) => tf.sum(tf.square(leaky(tf.matMul(v, b)))))(a))))([x, w]));
  });

  it('fused matMul and fused conv2d (bias + activation)', () => {
    compare([input([6, 20], 32), input([20, 9], 33), input([9], 34)], (a, b, bias) =>
      tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias, activation: 'relu' }));
    compare([input([2, 6, 6, 4], 35), input([3, 3, 4, 8], 36), input([8], 37)], (x, w, bias) =>
      tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same', bias, activation: 'leakyrelu', leakyreluAlpha: 0.2 }));
    compare([input([2, 6, 6, 4], 38), input([3, 3, 4, 8], 39), input([8], 40)], (x, w, bias) =>
      tf.grads((p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) =>
        tf.fused.conv2d({ x: p as tf.Tensor4D, filter: q as tf.Tensor4D, strides: 2, pad: 'same', bias: r, activation: 'relu' }))([x, w, bias]));
  });

  for (const simd of ['avx512', 'avx2', 'generic']) {
    it(`the ${simd} code path matches cpu (where this CPU has it)`, (ctx) => {
      if (!native.addon.setSimd(simd)) ctx.skip(`this CPU has no ${simd}`);
      try {
        expect(native.addon.info().simd).toBe(simd);
        compare([input([2, 8, 8, 16], 41), input([3, 3, 16, 40], 42)], (x, w) =>
          tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 1))([x, w]));
        compare([input([33, 70], 43), input([70, 51], 44)], (p, q) => tf.matMul(p, q));
        compare([input([2, 4, 4, 40], 45), input([4, 4, 24, 40], 46)], (a, b) =>
          tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [2, 8, 8, 24], 2, 1));
      } finally {
        native.addon.setSimd('auto');
      }
    });
  }

  it('single-threaded results equal multi-threaded ones', () => {
    const inputs = [input([4, 16, 16, 32], 45), input([3, 3, 32, 32], 46)];
    const f = (x: tf.Tensor, w: tf.Tensor) => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 1))([x, w]);
    const multi = runOn('native', inputs, f);
    native.addon.setThreads(1);
    try {
      const single = runOn('native', inputs, f);
      multi.forEach((m, i) => expect(relErr(single[i].data, m.data)).toBeLessThan(1e-5));
    } finally {
      native.addon.setThreads(0);
    }
  });
});

// ---- Conv2D forward precision ------------------------------------------------
// The precise forward accumulates in double and rounds once; the backend uses
// it where a gradient tape records ('auto'). Checked against plain float64
// loops here.

interface ConvGeom {
  x: number[]; // NHWC
  w: number[]; // HWIO
  stride: [number, number];
  pad: [number, number]; // top, left (bottom/right implied by the output size)
  out: [number, number];
}

/** y = conv2d(x, w) in float64, and per output the sum of |terms|. */
function conv2dF64(g: ConvGeom, x: Float32Array, w: Float32Array): { y: Float64Array; absSum: Float64Array } {
  const [B, H, W, C] = g.x, [KH, KW, , OC] = g.w, [OH, OW] = g.out;
  const y = new Float64Array(B * OH * OW * OC), absSum = new Float64Array(y.length);
  for (let b = 0; b < B; b++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        for (let o = 0; o < OC; o++) {
          let s = 0, a = 0;
          for (let ky = 0; ky < KH; ky++) {
            const iy = oy * g.stride[0] - g.pad[0] + ky;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < KW; kx++) {
              const ix = ox * g.stride[1] - g.pad[1] + kx;
              if (ix < 0 || ix >= W) continue;
              for (let c = 0; c < C; c++) {
                const t = x[((b * H + iy) * W + ix) * C + c] * w[((ky * KW + kx) * C + c) * OC + o];
                s += t;
                a += Math.abs(t);
              }
            }
          }
          const i = ((b * OH + oy) * OW + ox) * OC + o;
          y[i] = s;
          absSum[i] = a;
        }
      }
    }
  }
  return { y, absSum };
}

/** The spacing of float32 values at |v|. */
function ulp32(v: number): number {
  const a = Math.abs(Math.fround(v));
  if (a < 2 ** -126) return 2 ** -149;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  return 2 ** (e - 23);
}

const convParamsOf = (addon: NativeAddon, g: ConvGeom) => packParams(addon, 'conv', {
  batch: g.x[0], inH: g.x[1], inW: g.x[2], inC: g.x[3], outH: g.out[0], outW: g.out[1], outC: g.w[3], kH: g.w[0], kW: g.w[1],
  strideH: g.stride[0], strideW: g.stride[1], dilH: 1, dilW: 1, padTop: g.pad[0], padLeft: g.pad[1],
});

interface PrecisionReport {
  rel: number; // max |y - ref| / max |ref|
  ulps: number; // max |y - ref| / ulp32(ref)
  notRounded: number; // outputs that are not fround(ref)
}

function precisionOf(y: Float32Array, ref: Float64Array): PrecisionReport {
  let e = 0, m = 0, ulps = 0, notRounded = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(y[i] - ref[i]);
    e = Math.max(e, d);
    m = Math.max(m, Math.abs(ref[i]));
    ulps = Math.max(ulps, d / ulp32(ref[i]));
    if (y[i] !== Math.fround(ref[i])) notRounded++;
  }
  return { rel: m === 0 ? e : e / m, ulps, notRounded };
}

const precisionCases: [string, ConvGeom][] = [
  ['3x3 pad 1', { x: [2, 7, 9, 24], w: [3, 3, 24, 20], stride: [1, 1], pad: [1, 1], out: [7, 9] }],
  ['4x4 stride 2 pad 1', { x: [2, 10, 8, 12], w: [4, 4, 12, 33], stride: [2, 2], pad: [1, 1], out: [5, 4] }],
  ['1x1', { x: [3, 5, 6, 40], w: [1, 1, 40, 17], stride: [1, 1], pad: [0, 0], out: [5, 6] }],
  // K = 5400: several depth blocks and, with 2+ threads, the K split (private double sums).
  ['3x3 pad 1, long reduction 600 -> 24', { x: [1, 3, 3, 600], w: [3, 3, 600, 24], stride: [1, 1], pad: [1, 1], out: [3, 3] }],
  // M = 338 rows, N = 300 columns: several row / column blocks, partial tiles.
  ['3x3 pad 1, 8 -> 300 (partial tiles)', { x: [2, 13, 13, 8], w: [3, 3, 8, 300], stride: [1, 1], pad: [1, 1], out: [13, 13] }],
];

/** Large alternating terms that cancel: x ~ 1000 (1 + 1e-3 u), w ~ +-(1 + 1e-3 u) by channel parity. */
function cancellationInputs(g: ConvGeom, seed: number): { x: Float32Array; w: Float32Array } {
  const ux = randArray(size(g.x), seed), uw = randArray(size(g.w), seed + 1);
  const x = ux.map((u) => 1000 * (1 + 1e-3 * u));
  const OC = g.w[3], C = g.w[2];
  const w = uw.map((u, i) => (Math.floor(i / OC) % C % 2 === 0 ? 1 : -1) * (1 + 1e-3 * u));
  return { x, w };
}

describe.skipIf(!available)('native Conv2D forward precision (double accumulation)', () => {
  const native = useNativeBackend();

  /** Runs the raw addon conv, precise (double) or float32. */
  function run(g: ConvGeom, x: Float32Array, w: Float32Array, fp32: boolean): Float32Array {
    const y = new Float32Array(g.x[0] * g.out[0] * g.out[1] * g.w[3]);
    native.addon.conv2d(x, w, y, convParamsOf(native.addon, g), !fp32);
    return y;
  }

  it('ALAE_NATIVE_CONV_ACCUM names the mode (auto by default); anything else is refused', () => {
    expect(parseConvAccumulation(undefined)).toBe('auto');
    expect(parseConvAccumulation('')).toBe('auto');
    for (const m of ['auto', 'fp64', 'fp32'] as const) expect(parseConvAccumulation(m)).toBe(m);
    expect(() => parseConvAccumulation('fp16')).toThrow(/ALAE_NATIVE_CONV_ACCUM=fp16: expected one of auto, fp64, fp32/);
    expect(convAccumulation()).toBe(parseConvAccumulation(process.env.ALAE_NATIVE_CONV_ACCUM));
  });

  it('auto: double accumulation where a gradient tape records, float32 elsewhere; fp64 / fp32 force one', () => {
    // Cancelling terms: the two accumulations give different bits here.
    const g: ConvGeom = { x: [2, 5, 5, 32], w: [3, 3, 32, 16], stride: [1, 1], pad: [1, 1], out: [5, 5] };
    const { x, w } = cancellationInputs(g, 90);
    const precise = run(g, x, w, false), fp32 = run(g, x, w, true);
    expect(precise).not.toEqual(fp32);
    tf.setBackend('native');
    const xt = tf.tensor4d(x, g.x as [number, number, number, number]), wt = tf.tensor4d(w, g.w as [number, number, number, number]);
    const untaped = () => tf.tidy(() => tf.conv2d(xt, wt, 1, 1).dataSync().slice());
    // Inside tf.grad's forward the tape records: the forward value is read out through a side channel.
    const taped = () => {
      let seen = new Float32Array(0);
      tf.tidy(() => tf.grad((v: tf.Tensor) => {
        const y = tf.conv2d(v as tf.Tensor4D, wt, 1, 1);
        seen = y.dataSync<'float32'>().slice();
        return tf.sum(y);
      })(xt));
      return seen;
    };
    const was = setConvAccumulation('auto');
    try {
      expect(untaped()).toEqual(fp32);
      expect(taped()).toEqual(precise);
      setConvAccumulation('fp64');
      expect(untaped()).toEqual(precise);
      setConvAccumulation('fp32');
      expect(taped()).toEqual(fp32);
      expect(() => setConvAccumulation('fp16' as 'auto')).toThrow(/expected one of/);
    } finally {
      setConvAccumulation(was);
      tf.dispose([xt, wt]);
    }
  });

  for (const simd of ['avx512', 'avx2', 'generic']) {
    for (const [name, g] of precisionCases) {
      it(`${simd}: ${name} matches float64 loops to 1 ulp (and beats or ties float32)`, (ctx) => {
        if (!native.addon.setSimd(simd)) ctx.skip(`this CPU has no ${simd}`);
        try {
          const x = randArray(size(g.x), 50), w = randArray(size(g.w), 51);
          const ref = conv2dF64(g, x, w).y;
          const precise = precisionOf(run(g, x, w, false), ref);
          const fp32 = precisionOf(run(g, x, w, true), ref);
          expect(precise.rel, JSON.stringify({ precise, fp32 })).toBeLessThan(2e-7);
          expect(precise.ulps, JSON.stringify({ precise, fp32 })).toBeLessThanOrEqual(1);
          expect(precise.rel).toBeLessThanOrEqual(fp32.rel);
          expect(precise.notRounded).toBeLessThanOrEqual(fp32.notRounded);
        } finally {
          native.addon.setSimd('auto');
        }
      });
    }

    it(`${simd}: cancellation of large alternating terms: double accumulation stays within 1 ulp, float32 does not`, (ctx) => {
      if (!native.addon.setSimd(simd)) ctx.skip(`this CPU has no ${simd}`);
      try {
        for (const g of [
          { x: [1, 4, 4, 64], w: [1, 1, 64, 8], stride: [1, 1], pad: [0, 0], out: [4, 4] },
          { x: [2, 5, 5, 32], w: [3, 3, 32, 16], stride: [1, 1], pad: [1, 1], out: [5, 5] },
        ] as ConvGeom[]) {
          const { x, w } = cancellationInputs(g, 60);
          const { y: ref, absSum } = conv2dF64(g, x, w);
          // The case is adversarial: the terms are far larger than the result.
          expect(Math.max(...absSum) / Math.max(...ref.map(Math.abs))).toBeGreaterThan(100);
          const precise = precisionOf(run(g, x, w, false), ref);
          const fp32 = precisionOf(run(g, x, w, true), ref);
          expect(precise.ulps, JSON.stringify({ precise, fp32 })).toBeLessThanOrEqual(1);
          expect(precise.rel).toBeLessThan(2e-7);
          expect(precise.rel).toBeLessThan(fp32.rel);
          expect(fp32.ulps).toBeGreaterThan(1);
        }
      } finally {
        native.addon.setSimd('auto');
      }
    });
  }

  it('tf.conv2d and tf.fused.conv2d on the native backend use the precise path (fp64)', () => {
    const g: ConvGeom = { x: [2, 6, 6, 48], w: [3, 3, 48, 20], stride: [1, 1], pad: [1, 1], out: [6, 6] };
    const x = randArray(size(g.x), 70), w = randArray(size(g.w), 71);
    const ref = conv2dF64(g, x, w).y;
    tf.setBackend('native');
    const was = setConvAccumulation('fp64');
    const [plain, fused] = tf.tidy(() => {
      const xt = tf.tensor4d(x, g.x as [number, number, number, number]);
      const wt = tf.tensor4d(w, g.w as [number, number, number, number]);
      return [
        tf.conv2d(xt, wt, 1, 1).dataSync() as Float32Array,
        tf.fused.conv2d({ x: xt, filter: wt, strides: 1, pad: 1, activation: 'linear' }).dataSync() as Float32Array,
      ];
    });
    setConvAccumulation(was);
    for (const [which, y] of [['conv2d', plain], ['fused.conv2d', fused]] as const) {
      const r = precisionOf(y, ref);
      expect(r.ulps, `${which} ${JSON.stringify(r)} on ${tf.getBackend()}`).toBeLessThanOrEqual(1);
      expect(r.rel).toBeLessThan(2e-7);
    }
  });

  it('precise results do not depend on the thread count beyond 1 ulp', () => {
    const [, g] = precisionCases[3];
    const x = randArray(size(g.x), 80), w = randArray(size(g.w), 81);
    const multi = run(g, x, w, false);
    native.addon.setThreads(1);
    try {
      const single = run(g, x, w, false);
      for (let i = 0; i < multi.length; i++) expect(Math.abs(single[i] - multi[i])).toBeLessThanOrEqual(ulp32(multi[i]));
    } finally {
      native.addon.setThreads(0);
    }
  });
});
