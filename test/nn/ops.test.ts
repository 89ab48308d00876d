import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { customKernelsOn } from '../../src/backend/kernel-adapter.js';
import type { Differentiation } from '../../src/nn/ops.js';
import { LEAKY_TWICE, blur, conv, convDownFused, downscale2d, leakyRelu, statsAndNorm, transformKernel, upscale2d } from '../../src/nn/ops.js';
import { Rng } from '../../src/util/random.js';
import { LEAKY_CASES, LEAKY_SPECIALS, leakyDerivatives } from './leaky-cases.js';
import { testBackend } from '../setup-backend.js';

beforeAll(testBackend);

function rand(shape: number[], seed: number): tf.Tensor {
  const rng = new Rng(seed);
  return tf.tensor(rng.normals(shape.reduce((a, b) => a * b, 1)), shape);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe('nn ops', () => {
  it('blur equals the reference depthwise [1,2,1]x[1,2,1]/16 conv with zero padding, in both forms', () => {
    const x = rand([2, 7, 5, 3], 1) as tf.Tensor4D;
    const k = tf.tensor([1, 2, 1, 2, 4, 2, 1, 2, 1].map((v) => v / 16), [3, 3, 1, 1]);
    const ref = tf.depthwiseConv2d(x, tf.tile(k, [1, 1, 3, 1]) as tf.Tensor4D, 1, 1);
    expect(maxAbsDiff(blur(x), ref)).toBeLessThan(1e-6);
    expect(maxAbsDiff(blur(x, 'once'), ref)).toBeLessThan(1e-6);
  });

  it('downscale2d is 2x2 average pooling, upscale2d 2x nearest, in both forms', () => {
    const x = rand([2, 8, 6, 3], 2) as tf.Tensor4D;
    const up = tf.tidy(() => tf.reshape(tf.tile(tf.reshape(x, [2, 8, 1, 6, 1, 3]), [1, 1, 2, 1, 2, 1]), [2, 16, 12, 3]));
    const down = tf.tidy(() => tf.mean(tf.reshape(x, [2, 4, 2, 3, 2, 3]), [2, 4]));
    for (const d of ['none', 'once'] as const) {
      expect(maxAbsDiff(downscale2d(x, d), down)).toBeLessThan(1e-6);
      expect(maxAbsDiff(upscale2d(x), up)).toBe(0);
    }
  });

  it('gradients of the fast forms equal those of the twice-differentiable forms', () => {
    const x = rand([2, 8, 8, 4], 11) as tf.Tensor4D;
    const w = rand([3, 3, 4, 4], 12) as tf.Tensor4D;
    const b = rand([4], 13);
    const fs: Array<(v: tf.Tensor4D, d: Differentiation) => tf.Tensor> = [blur, downscale2d, upscale2d, leakyRelu, (v, d) => conv(v, w, b, true, d)];
    for (const f of fs) {
      const r = tf.randomNormal(f(x, 'none').shape, 0, 1, 'float32', 3);
      const g = (d: Differentiation) => (v: tf.Tensor) => tf.sum(tf.mul(f(v as tf.Tensor4D, d), r));
      expect(maxAbsDiff(tf.grad(g('none'))(x), tf.grad(g('once'))(x))).toBeLessThan(1e-5);
    }
    // what upscale2d avoids: tfjs's resizeNearestNeighbor gradient disagrees with the op it differentiates
    const r = tf.randomNormal([2, 16, 16, 4], 0, 1, 'float32', 4);
    const viaResize = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeNearestNeighbor(v as tf.Tensor4D, [16, 16]), r)))(x);
    expect(maxAbsDiff(viaResize, tf.grad((v: tf.Tensor) => tf.sum(tf.mul(upscale2d(v as tf.Tensor4D), r)))(x))).toBeGreaterThan(0.1);
  });

  it('blur, downscale2d and upscale2d have exact second derivatives (their gradients are their adjoints, differentiated again)', () => {
    // For a linear op A: d/dx sum(A(x)^2) = 2 A^T A x, and the derivative of <that, v> is 2 A^T A v.
    // A^T explicitly: the blur is self-adjoint; pooling and nearest up-sampling are adjoint up to 4.
    const cases: [string, (t: tf.Tensor4D) => tf.Tensor4D, (t: tf.Tensor4D) => tf.Tensor4D, number[]][] = [
      ['blur', (t) => blur(t, 'twice'), blur, [2, 6, 5, 3]],
      ['downscale2d', (t) => downscale2d(t, 'twice'), (t) => tf.mul(upscale2d(t), 0.25) as tf.Tensor4D, [2, 6, 8, 3]],
      ['upscale2d', upscale2d, (t) => tf.mul(downscale2d(t), 4) as tf.Tensor4D, [2, 3, 4, 3]],
    ];
    for (const [name, op, adjoint, shape] of cases) {
      const x = rand(shape, 11) as tf.Tensor4D;
      const v = rand(shape, 12) as tf.Tensor4D;
      const hv = tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.grad((w: tf.Tensor) => tf.sum(tf.square(op(w as tf.Tensor4D))))(u), v)))(x);
      const want = tf.mul(adjoint(op(v)), 2);
      expect(maxAbsDiff(hv, want), name).toBeLessThan(1e-5);
      // First order: the gradient of <A x, y> is A^T y.
      const y = rand(op(x).shape, 13);
      const g = tf.grad((u: tf.Tensor) => tf.sum(tf.mul(op(u as tf.Tensor4D), y)))(x);
      expect(maxAbsDiff(g, adjoint(y as tf.Tensor4D)), name).toBeLessThan(1e-6);
    }
  });

  it('conv with bias and leaky ReLU: fused form equals the twice-differentiable one', () => {
    const x = rand([2, 6, 6, 4], 7) as tf.Tensor4D;
    const w = rand([3, 3, 4, 5], 8) as tf.Tensor4D;
    const b = rand([5], 9);
    expect(maxAbsDiff(conv(x, w, b, true), conv(x, w, b, true, 'once'))).toBeLessThan(1e-5);
    expect(maxAbsDiff(conv(x, w, b, true), leakyRelu(tf.add(tf.conv2d(x, w, 1, 'same'), b)))).toBeLessThan(1e-5);
  });

  it('statsAndNorm: std with no epsilon, normalised x as instance norm', () => {
    const x = tf.add(tf.mul(rand([2, 5, 5, 3], 10), 2), 1) as tf.Tensor4D;
    const { mean, std, normed } = statsAndNorm(x, 1e-5);
    const m = tf.moments(x, [1, 2], true);
    expect(maxAbsDiff(normed, tf.div(tf.sub(x, m.mean), tf.sqrt(tf.add(m.variance, 1e-5))))).toBeLessThan(1e-5);
    expect(maxAbsDiff(mean, m.mean)).toBeLessThan(1e-5);
    expect(maxAbsDiff(std, tf.sqrt(m.variance))).toBeLessThan(1e-5);
  });

  it('leakyRelu matches tf.leakyRelu(0.2) and has the right second derivative (zero)', () => {
    const x = tf.tensor([-2, -0.5, 0.5, 3]);
    expect(maxAbsDiff(leakyRelu(x), tf.leakyRelu(x, 0.2))).toBeLessThan(1e-7);
    const g = tf.grad((v: tf.Tensor) => tf.sum(leakyRelu(v)))(x);
    expect(Array.from(g.dataSync())).toEqual([0.2, 0.2, 1, 1].map((v) => Math.fround(v)));
    const gg = tf.grad((v: tf.Tensor) => tf.sum(tf.grad((u: tf.Tensor) => tf.sum(tf.square(leakyRelu(u, 'twice'))))(v)))(x);
    // d/dx of 2 f(x) f'(x) = 2 f'(x)^2 (f'' = 0 away from 0)
    expect(Array.from(gg.dataSync()).map((v) => +v.toFixed(5))).toEqual([0.08, 0.08, 2, 2]);
  });

  it('the twice-differentiable leaky ReLU gives the op chain\'s bits and mask (one kernel on native), also in parallel', () => {
    // Values around the kink, subnormals, -0, NaN, large; 150,000 elements so the native kernel splits the work.
    const special = [0, -0, 1e-7, -1e-7, 1e-40, -1e-40, NaN, 3e38, -3e38, 0.5, -0.5];
    const v = Float32Array.from({ length: 150_000 }, (_, i) => (i < special.length ? special[i] : Math.sin(i) * 10 ** ((i % 13) - 8)));
    const x = tf.tensor(v);
    const value = leakyRelu(x, 'once');
    const chain = tf.add(tf.mul(x, 0.2), tf.mul(tf.relu(x), 0.8));
    const a = value.dataSync(), b = chain.dataSync();
    let differ = 0;
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) differ++;
    expect(differ).toBe(0);
    const g = tf.grad((u: tf.Tensor) => tf.sum(leakyRelu(u, 'once')))(x).dataSync();
    const m = tf.step(x, 0.2).dataSync();
    expect(Array.from(g.slice(special.length)).every((gi, i) => gi === m[i + special.length])).toBe(true);
    tf.dispose([x, value, chain]);
    expect(tf.getKernel(LEAKY_TWICE, tf.getBackend()) !== undefined).toBe(customKernelsOn(tf.getBackend()));
  });

  it('the leaky ReLU\'s gradient read off its value: first and second derivatives as with the mask of x, bit for bit, no mask kept', () => {
    const v = Float32Array.from({ length: 2 * 9 * 7 * 3 }, (_, i) => (i < LEAKY_SPECIALS.length ? LEAKY_SPECIALS[i] : Math.sin(i) * 10 ** ((i % 9) - 6)));
    const x = tf.tensor4d(v, [2, 9, 7, 3]), bias = tf.tensor1d([0, 0, -1e-7]), r = rand([2, 9, 7, 3], 21);
    const bits = (t: tf.Tensor) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));
    const before = tf.memory().numTensors;
    for (const [ours, ref] of LEAKY_CASES) {
      const [g, gref] = [leakyDerivatives(ours, x, bias, r), leakyDerivatives(ref, x, bias, r)];
      g.forEach((gi, i) => expect(bits(gi)).toEqual(bits(gref[i])));
      tf.dispose([...g, ...gref]);
    }
    expect(tf.memory().numTensors).toBe(before);
    // The forward keeps no tensor but its value: a tape of leakyRelu alone holds what the value holds.
    const kept = tf.memory().numBytes;
    const y = tf.tidy(() => {
      let out: tf.Tensor | null = null;
      tf.grad((u: tf.Tensor) => {
        out = leakyRelu(u, 'once');
        expect(tf.memory().numBytes - kept).toBe(2 * 4 * x.size); // the value and its saved alias, no mask
        return tf.sum(out);
      })(x);
      return tf.keep(out!);
    });
    tf.dispose([x, bias, r, y]);
  });

  it('the fused stride-2 conv equals a 3x3 conv followed by 2x2 average pooling', () => {
    // transform_kernel sums the four shifts of the 3x3 kernel (times 0.25): a 2x2 box after the conv.
    const x = rand([2, 8, 8, 4], 3) as tf.Tensor4D;
    const w = rand([3, 3, 4, 5], 4) as tf.Tensor4D;
    expect(maxAbsDiff(convDownFused(x, w), downscale2d(conv(x, w)))).toBeLessThan(1e-5);
    expect(transformKernel(w, 1).shape).toEqual([4, 4, 4, 5]);
  });

  it('the normalised x has zero mean and unit variance per sample and channel', () => {
    const x = tf.add(tf.mul(rand([3, 6, 6, 2], 5), 3), 7) as tf.Tensor4D;
    const y = statsAndNorm(x, 1e-8).normed;
    const m = tf.mean(y, [1, 2]);
    const v = tf.mean(tf.square(y), [1, 2]);
    expect(tf.max(tf.abs(m)).dataSync()[0]).toBeLessThan(1e-5);
    expect(maxAbsDiff(v, tf.onesLike(v))).toBeLessThan(1e-4);
  });

  it('ops leave no tensors behind', () => {
    const x = rand([1, 8, 8, 2], 6) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    for (const f of [blur, downscale2d, upscale2d]) {
      f(x).dispose();
      f(x, 'once').dispose();
    }
    leakyRelu(x).dispose();
    tf.dispose(Object.values(statsAndNorm(x, 1e-5)));
    expect(tf.memory().numTensors).toBe(before);
  });
});
