import { beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor } from '../../src/tf.js';
import { gradients } from '../../src/train/tape.js';
import { traceKernels } from '../../src/bench/kernel-trace.js';
import { testBackend } from '../setup-backend.js';

beforeAll(testBackend);

const values = async (ts: Array<Tensor | null>): Promise<number[][]> => Promise.all(ts.map(async (t) => Array.from(await t!.data())));

/** A customGrad op whose gradient hands dy through unchanged (the same tensor). */
const passThrough = tf.customGrad((x) => ({ value: tf.mul(x as Tensor, 1), gradFunc: (dy) => dy as Tensor }));

describe('gradients (train/tape.ts)', () => {
  const w = tf.variable(tf.tensor1d([0.5, -1.5, 2, 0.25, -0.75]), true, 'tape-w');
  const v = tf.variable(tf.tensor1d([1.5, 0.5, -2, 1, 3]), true, 'tape-v');
  const unused = tf.variable(tf.tensor1d([1, 2]), true, 'tape-unused');
  const x = tf.tensor1d([0.3, -0.2, 0.9, -1.1, 0.4]);

  // w and v used several times (gradient sums), a pass-through gradient, a nonlinearity, a reduction.
  const loss = (): tf.Scalar => tf.tidy(() => {
    const a = tf.mul(w, x);
    const b = tf.add(a, passThrough(tf.mul(v, w)) as Tensor);
    const c = tf.mul(tf.tanh(b), tf.square(v));
    return tf.sum(tf.add(c, tf.mul(a, v)));
  });

  it('gives the bits tf.variableGrads gives, without leaving tensors', async () => {
    const before = tf.memory().numTensors;
    const ref = tf.variableGrads(loss, [w, v, unused]);
    const ours = gradients(loss, [w, v, unused]);
    expect(await values([ours.value, ...ours.grads.slice(0, 2)])).toEqual(await values([ref.value, ref.grads['tape-w'], ref.grads['tape-v']]));
    expect(ours.grads[2]).toBeNull();
    expect(ref.grads['tape-unused']).toBeUndefined();
    tf.dispose([ours.value, ref.value, ...ours.grads.filter((g): g is Tensor => g !== null), ...Object.values(ref.grads)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('differentiates its own gradient again (the R1 pattern) to the same bits as tf.grad inside tf.variableGrads', async () => {
    const before = tf.memory().numTensors;
    // |d h(x)/d x|^2 differentiated with respect to w and v: a gradient taped by an outer gradient.
    const h = (y: Tensor): tf.Scalar => tf.sum(tf.mul(tf.sin(tf.mul(y, w)), v));
    const r1 = (dx: () => Tensor) => (): tf.Scalar => tf.tidy(() => tf.sum(tf.square(dx())));
    const ref = tf.variableGrads(r1(() => tf.grad(h)(x)), [w, v]);
    const ours = gradients(r1(() => tf.tidy(() => gradients(() => h(x), [x]).grads[0]!)), [w, v]);
    expect(await values([ours.value, ...ours.grads])).toEqual(await values([ref.value, ref.grads['tape-w'], ref.grads['tape-v']]));
    tf.dispose([ours.value, ref.value, ...ours.grads.filter((g): g is Tensor => g !== null), ...Object.values(ref.grads)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('holds less at its peak than tfjs: gradients and saved tensors go as the backward pass passes them', () => {
    const big = tf.variable(tf.randomNormal([1 << 16], 0, 1, 'float32', 1), true, 'tape-big');
    // 12 steps on 256 kB tensors, each step's scratch freed at once (its own tidy): the forward pass
    // holds only what the tape saves, and tfjs then keeps every gradient of the backward pass to its end.
    const chain = (): tf.Scalar => tf.tidy(() => {
      let h: Tensor = big;
      for (let i = 0; i < 12; i++) {
        const p = h;
        h = tf.tidy(() => tf.add(tf.neg(p), 1));
      }
      return tf.sum(h);
    });
    const peak = (run: () => Tensor[]): number => {
      const t = traceKernels();
      tf.dispose(run());
      return t.stop().peakTensorBytes - tf.memory().numBytes;
    };
    const tfjs = peak(() => {
      const r = tf.variableGrads(chain, [big]);
      return [r.value, ...Object.values(r.grads)];
    });
    const ours = peak(() => {
      const r = gradients(chain, [big]);
      return [r.value, ...r.grads.filter((g): g is Tensor => g !== null)];
    });
    // In tfjs's count (a tensor sharing another's buffer counts again): the forward pass peaks at
    // 25 x 256 kB (12 outputs, 12 saved copies, the variable); tfjs's backward pass then adds its
    // gradients on top (39), ours lets the saved copies and the gradients go as it passes them.
    const mb = 4 << 16;
    expect(tfjs).toBeGreaterThanOrEqual(38 * mb);
    expect(ours).toBeLessThanOrEqual(26 * mb);
    big.dispose();
  });
});
