/**
 * The Sum and Mean gradients of src/backend/reduce-gradients.ts against
 * tfjs's own (kept from before the replacement): the same bits, first and
 * second order, on cpu and (when built) native, for the reductions the model
 * differentiates (NHWC means over H, W; bias-gradient sums over N, H, W) and
 * odd ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-cpu';
import { tf } from '../../src/tf.js';
import { nativeAvailable, registerNativeBackend } from '../../src/backend/native.js';
import { REDUCE_GRADIENTS, registerReduceGradients } from '../../src/backend/reduce-gradients.js';
import { randArray, size } from './random-array.js';

// registerNativeBackend() puts the replacements in: keep tfjs's first.
const tfjsGradients = REDUCE_GRADIENTS.map((g) => tf.getGradient(g.kernelName)!);
const backends = ['cpu', ...(nativeAvailable() ? ['native'] : [])];

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

describe('Sum and Mean gradients without a tensor of ones', () => {
  beforeAll(async () => {
    if (nativeAvailable()) await registerNativeBackend();
  });
  afterAll(() => {
    registerReduceGradients();
    tf.setBackend('cpu');
  });

  for (const backend of backends) {
    it(`${backend}: the bits of tfjs's gradients, first and second order`, () => {
      tf.setBackend(backend);
      for (const [name, shape, r] of cases) {
        const x = tf.tensor(randArray(size(shape), 3), shape);
        const y = tf.tidy(() => r(x));
        const w = tf.tensor(randArray(size(y.shape), 4), y.shape);
        tfjsGradients.forEach((g) => tf.registerGradient(g));
        const before = tf.memory().numTensors;
        const want = derivatives(r, x, w);
        registerReduceGradients();
        expect(tf.getGradient('Mean')).toBe(REDUCE_GRADIENTS[1]);
        const ours = derivatives(r, x, w);
        expect(tf.memory().numTensors, name).toBe(before);
        expect(ours[0], `${name}: first order`).toEqual(want[0]);
        expect(ours[1], `${name}: second order`).toEqual(want[1]);
        tf.dispose([x, y, w]);
      }
    });
  }
});
