/**
 * The Sum and Mean gradients of src/backend/reduce-gradients.ts, which the
 * kernel adapter registers for the native backend, against tfjs's own (kept
 * from before the registration): the same bits, first and second order, for
 * the reductions the model differentiates (NHWC means over H, W;
 * bias-gradient sums over N, H, W) and odd ones; other backends keep tfjs's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-cpu';
import { tf } from '../../src/tf.js';
import { nativeAvailable, registerNativeBackend } from '../../src/backend/native.js';
import { customKernelsOff } from '../../src/backend/kernel-adapter.js';
import { randArray, size } from './random-array.js';

// registerNativeBackend() puts the replacements in: keep tfjs's first.
const KERNELS = ['Sum', 'Mean'];
const tfjsGradients = KERNELS.map((k) => tf.getGradient(k)!);
const skip = !nativeAvailable() ? 'the native addon is not built' : customKernelsOff('native') ? 'ALAE_FUSED=0 or ALAE_NATIVE_FUSED=0' : '';

type Reduce = (x: tf.Tensor) => tf.Tensor;
const cases: [string, number[], Reduce][] = [
  ['mean over H, W, keepDims', [3, 5, 4, 6], (x) => tf.mean(x, [1, 2], true)],
  ['sum over N, H, W', [3, 5, 4, 6], (x) => tf.sum(x, [0, 1, 2])],
  ['mean of all', [4, 7], (x) => tf.mean(x)],
  ['sum over the last axis', [2, 3, 9], (x) => tf.sum(x, -1)],
  ['mean over axes 0 and 2, keepDims', [4, 3, 5, 2], (x) => tf.mean(x, [0, 2], true)],
  ['sum of a scalar-like tensor', [1, 1], (x) => tf.sum(x, 1)],
];

/** First and second derivatives of sum(w * reduce(x * x)) with respect to x. */
function derivatives(r: Reduce, xv: tf.Tensor, w: tf.Tensor): Float32Array[] {
  return tf.tidy(() => {
    const f = (x: tf.Tensor) => tf.sum(tf.mul(w, r(tf.mul(x, x))));
    const g = tf.grad(f);
    const gg = tf.grad((x: tf.Tensor) => tf.sum(tf.square(g(x))));
    return [g(xv), gg(xv)].map((t) => t.dataSync().slice() as Float32Array);
  });
}

/** The kernels the gradient of a mean over H, W dispatches. */
async function gradientKernels(): Promise<string[]> {
  const x = tf.ones([2, 3, 3, 4]);
  const info = await tf.profile(() => tf.grad((v: tf.Tensor) => tf.mean(v, [1, 2]))(x));
  x.dispose();
  return info.kernelNames;
}

describe.skipIf(skip !== '')(`Sum and Mean gradients without a tensor of ones${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let ours: tf.GradConfig[] = [];
  beforeAll(async () => {
    await registerNativeBackend();
    ours = KERNELS.map((k) => tf.getGradient(k)!);
  });
  afterAll(() => {
    ours.forEach((g) => tf.registerGradient(g));
    tf.setBackend('cpu');
  });

  it('runs on native only: a broadcast (Tile) there, tfjs\'s multiply by ones elsewhere', async () => {
    tf.setBackend('native');
    const native = await gradientKernels();
    tf.setBackend('cpu');
    const cpu = await gradientKernels();
    expect(native).toContain('Tile');
    expect(native).not.toContain('Multiply');
    expect(cpu).toContain('Multiply');
    expect(cpu).not.toContain('Tile');
  });

  it('native: the bits of tfjs\'s gradients, first and second order, and no tensor left behind', () => {
    tf.setBackend('native');
    for (const [name, shape, r] of cases) {
      const x = tf.tensor(randArray(size(shape), 3), shape);
      const y = tf.tidy(() => r(x));
      const w = tf.tensor(randArray(size(y.shape), 4), y.shape);
      tfjsGradients.forEach((g) => tf.registerGradient(g));
      const before = tf.memory().numTensors;
      const want = derivatives(r, x, w);
      ours.forEach((g) => tf.registerGradient(g));
      const got = derivatives(r, x, w);
      expect(tf.memory().numTensors, name).toBe(before);
      expect(got[0], `${name}: first order`).toEqual(want[0]);
      expect(got[1], `${name}: second order`).toEqual(want[1]);
      tf.dispose([x, y, w]);
    }
  });
});
