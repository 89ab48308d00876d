/**
 * The twice-differentiable leaky ReLU against its definition with the mask of x saved (as the op
 * kept it before it read the mask off its value), for the tests on the test backend
 * (test/nn/ops.test.ts) and on webgpu (test/backend/webgpu-kernels.test.ts).
 */
import { tf, type Tensor } from '../../src/tf.js';
import { leakyRelu } from '../../src/nn/ops.js';

/** Pre-activations where the sign matters: +-0, subnormals, the smallest normals, NaN, infinities, the largest. */
export const LEAKY_SPECIALS = [0, -0, 1e-45, -1e-45, 1e-40, -1e-40, 1.2e-38, -1.2e-38, NaN, Infinity, -Infinity, 3.4e38, -3.4e38];

/** leaky_relu(x, 0.2) as the op chain, its gradient dy * step(x, 0.2) with the mask made in the forward, a constant. */
const byX = tf.customGrad((x, save) => {
  (save as tf.GradSaveFunc)([tf.step(x as Tensor, 0.2)]);
  return { value: tf.add(tf.mul(x as Tensor, 0.2), tf.mul(tf.relu(x as Tensor), 0.8)), gradFunc: (dy, [m]) => tf.mul(dy as Tensor, m) };
});

type F = (u: Tensor, c: Tensor) => Tensor;
/** [ours, the definition]: x itself (-0 and the subnormals reach the leaky ReLU as they are), then x + bias in two ops and in one. */
export const LEAKY_CASES: Array<[F, F]> = [
  [(u, c) => tf.add(leakyRelu(u, 'twice'), c), (u, c) => tf.add(byX(u), c)],
  [(u, c) => leakyRelu(tf.add(u, c), 'twice'), (u, c) => byX(tf.add(u, c))],
  [(u, c) => leakyRelu(u, 'twice', c), (u, c) => byX(tf.add(u, c))],
];

/**
 * The derivatives of <f(x, bias), r> and of R1's shape |d/dx <f(x, bias)^2, r>|^2, with respect to
 * x and bias: [first x, first bias, second x, second bias].
 */
export function leakyDerivatives(f: F, x: Tensor, bias: Tensor, r: Tensor): Tensor[] {
  const first = tf.grads((u: Tensor, c: Tensor) => tf.sum(tf.mul(f(u, c), r)))([x, bias]);
  const second = tf.grads((u: Tensor, c: Tensor) => tf.sum(tf.square(tf.grad((w: Tensor) => tf.sum(tf.mul(tf.square(f(w, c)), r)))(u))))([x, bias]);
  return [...first, ...second];
}
