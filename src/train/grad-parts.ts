/**
 * A parameter's gradient carried as the ordered parts it is the sum of,
 * ((p0 + p1) + p2) + ..., added left to right in the order the backward pass
 * (train/tape.ts, as tfjs's) would have added them. The optimizer sums them
 * where it reads the gradient (train/param-update.ts: inside its one update
 * kernel on webgpu, instead of a tf.add kernel per extra part), with the same
 * roundings; whoever needs the gradient as one tensor asks sumParts.
 */
import { tf, type Tensor } from '../tf.js';

/** A gradient's parts, at least one, all of the parameter's shape. */
export type GradParts = readonly Tensor[];

/** The gradient as one new tensor (the caller disposes it): the parts added left to right by tf.add. */
export function sumParts(parts: GradParts): Tensor {
  if (parts.length === 0) throw new Error('sumParts: a gradient has at least one part');
  if (parts.length === 1) return tf.clone(parts[0]);
  return tf.tidy(() => parts.slice(1).reduce((sum, p) => tf.add(sum, p), parts[0]));
}

/**
 * The parts of a + b for gradients computed apart (the value of one tf.add(a, b)): b's parts
 * are summed first, so that b enters as one part. Takes over both: what is not a part of the
 * result is disposed.
 */
export function addParts(a: GradParts, b: GradParts): GradParts {
  if (b.length === 1) return [...a, b[0]];
  const sum = sumParts(b);
  tf.dispose([...b]);
  return [...a, sum];
}

export function disposeParts(parts: GradParts): void {
  tf.dispose([...parts]);
}
