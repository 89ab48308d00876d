/** Comparing a kernel's output with the op chain's, bit for bit (tests). */
import { expect } from 'vitest';
import type { tf } from '../../src/tf.js';

/** Elements whose bits differ, and the largest difference relative to b's largest magnitude. */
export async function bitDiff(a: tf.Tensor, b: tf.Tensor): Promise<{ differ: number; rel: number }> {
  expect(a.shape).toEqual(b.shape);
  const [x, y] = [await a.data(), await b.data()];
  let differ = 0, diff = 0, scale = 0;
  for (let i = 0; i < x.length; i++) {
    if (!Object.is(x[i], y[i])) differ++;
    diff = Math.max(diff, Math.abs(x[i] - y[i]));
    scale = Math.max(scale, Math.abs(y[i]));
  }
  return { differ, rel: scale > 0 ? diff / scale : diff };
}
