/**
 * Exact k-nearest-neighbour search (squared Euclidean distance) over rows of
 * floats, on the active backend: for each query q and reference r,
 * |q - r|^2 = |q|^2 - 2 q.r + |r|^2, the q.r part as one matrix product.
 * |q|^2 is the same for every reference of a query, so the ranking uses
 * 2 q.r - |r|^2 (largest first) and never computes it.
 *
 * Queries go in chunks (default 256 at a time against all the references),
 * so memory is the references plus one chunk x references score matrix,
 * whatever the number of queries.
 */
import { tf } from '../tf.js';
import { AlaeError } from '../errors.js';
import { yieldToLoop } from '../util/yield-to-loop.js';

export interface NearestOptions {
  /** Queries per matrix product (default 256). */
  chunkSize?: number;
  /** Called after each chunk with the queries done so far. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * The k nearest references of every query: row i of the result (k entries,
 * `[i * k, (i + 1) * k)`) holds reference row numbers, nearest first.
 * `queries` and `refs` are row-major [n, dim]. Exactly equal distances are
 * ordered by the lower reference row first (tfjs's TopK on the cpu and
 * native backends; other backends may order exact ties differently).
 * Leaves no tensors behind.
 */
export async function nearestNeighbours(queries: Float32Array, refs: Float32Array, dim: number, k: number, opts: NearestOptions = {}): Promise<Int32Array> {
  if (!Number.isInteger(dim) || dim < 1) throw new AlaeError(`knn: dim must be a positive integer (got ${dim})`);
  if (queries.length % dim !== 0) throw new AlaeError(`knn: ${queries.length} query values are not rows of ${dim}`);
  if (refs.length % dim !== 0) throw new AlaeError(`knn: ${refs.length} reference values are not rows of ${dim}`);
  const nq = queries.length / dim;
  const nr = refs.length / dim;
  if (!Number.isInteger(k) || k < 1 || k > nr) throw new AlaeError(`knn: k must be an integer in 1..${nr} (the number of references), got ${k}`);
  const chunk = opts.chunkSize ?? 256;
  if (!Number.isInteger(chunk) || chunk < 1) throw new AlaeError(`knn: chunkSize must be a positive integer (got ${chunk})`);

  const out = new Int32Array(nq * k);
  if (nq === 0) return out;
  const refT = tf.tensor2d(refs, [nr, dim]);
  const refNorms = tf.tidy(() => tf.reshape(tf.sum(tf.square(refT), 1), [1, nr]));
  try {
    for (let start = 0; start < nq; start += chunk) {
      const n = Math.min(chunk, nq - start);
      const idx = tf.tidy(() => {
        const q = tf.tensor2d(queries.subarray(start * dim, (start + n) * dim), [n, dim]);
        const score = tf.sub(tf.mul(tf.matMul(q, refT, false, true), 2), refNorms);
        return tf.topk(score, k, true).indices;
      });
      try {
        out.set((await idx.data()) as Int32Array, start * k);
      } finally {
        idx.dispose();
      }
      opts.onProgress?.(start + n, nq);
      await yieldToLoop();
    }
  } finally {
    refT.dispose();
    refNorms.dispose();
  }
  return out;
}
