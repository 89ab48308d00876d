/**
 * The gradients of Sum and Mean without tfjs's full-size tensor of ones.
 * tfjs writes d(sum x)/dx as mul(reshape(dy), ones(x.shape)) (mean: then
 * divided by the count): a fresh array filled in a JS loop, and a broadcast
 * multiply, for every reduction differentiated. The encoder's instance-norm
 * statistics are means over H and W, so R1's twice-differentiated pass does
 * this at activation size dozens of times per training iteration.
 *
 * Here dy is broadcast back over the reduced axes (one Tile kernel) by an op
 * whose own gradient sums those axes again, so the gradients stay
 * differentiable any number of times. Multiplying by one is exact, so every
 * derivative, first or second, has the bits of tfjs's (test/backend/reduce-gradients.test.ts).
 * Registered for the native backend by kernel-adapter.ts.
 */
import { tf, type Tensor } from '../tf.js';

type GradFunc = tf.GradConfig['gradFunc'];

/** dy [reduced shape] broadcast to `shape` over `axes`; the gradient sums over `axes` again. */
function expand(dy: Tensor, shape: number[], axes: number[]): Tensor {
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const op = tf.customGrad((v) => ({
    value: tf.broadcastTo(tf.reshape(v as Tensor, kept), shape),
    gradFunc: (ddx) => tf.reshape(tf.sum(ddx as Tensor, axes), (v as Tensor).shape),
  }));
  return op(dy) as Tensor;
}

const axesOf = (attrs: tf.NamedAttrMap, x: Tensor): number[] => tf.util.parseAxisParam(attrs.axis as number | number[], x.shape);

/** Sum's gradient (tfjs's saves x, as this one needs). */
export const sumGradient = (): GradFunc => (dy, saved, attrs) => {
  const [x] = saved;
  return { x: () => expand(dy as Tensor, x.shape, axesOf(attrs, x)) };
};

/** Mean's gradient: Sum's divided by the count, as tfjs's. */
export const meanGradient = (): GradFunc => (dy, saved, attrs) => {
  const [x] = saved;
  const axes = axesOf(attrs, x);
  const count = axes.reduce((n, a) => n * x.shape[a], 1);
  return { x: () => tf.div(expand(dy as Tensor, x.shape, axes), count) };
};
