/**
 * nearestNeighbours against a brute-force search in float64: random rows,
 * chunks that do not divide the queries, k > 1, exact ties (small integer
 * coordinates, where float32 arithmetic is exact), and no tensors left.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { tf } from '../../src/tf.js';
import { AlaeError } from '../../src/errors.js';
import { Rng } from '../../src/util/random.js';
import { nearestNeighbours } from '../../src/eval/knn.js';

beforeAll(testBackend);

function dist(a: Float32Array, i: number, b: Float32Array, j: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) {
    const x = a[i * dim + d] - b[j * dim + d];
    s += x * x;
  }
  return s;
}

/** The k nearest by (distance, index): the order the search promises. */
function bruteForce(q: Float32Array, r: Float32Array, dim: number, k: number): Int32Array {
  const nq = q.length / dim;
  const nr = r.length / dim;
  const out = new Int32Array(nq * k);
  for (let i = 0; i < nq; i++) {
    const order = Array.from({ length: nr }, (_, j) => ({ j, d: dist(q, i, r, j, dim) }));
    order.sort((a, b) => a.d - b.d || a.j - b.j);
    for (let t = 0; t < k; t++) out[i * k + t] = order[t].j;
  }
  return out;
}

const cpuLike = () => ['cpu', 'native'].includes(tf.getBackend());

describe('nearestNeighbours', () => {
  it('matches a brute-force search on random rows, in chunks, with no tensors left', async () => {
    const rng = new Rng(3);
    const dim = 24;
    const q = rng.normals(53 * dim);
    const r = rng.normals(211 * dim);
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    for (const k of [1, 5]) {
      const got = await nearestNeighbours(q, r, dim, k, { chunkSize: 16, onProgress: (done) => seen.push(done) });
      expect(Array.from(got)).toEqual(Array.from(bruteForce(q, r, dim, k)));
    }
    expect(seen.slice(0, 4)).toEqual([16, 32, 48, 53]);
    // The default chunk (all 53 queries at once) gives the same.
    expect(Array.from(await nearestNeighbours(q, r, dim, 5))).toEqual(Array.from(bruteForce(q, r, dim, 5)));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('lets the event loop run between chunks (timers, signals, a progress line)', async () => {
    const rng = new Rng(4);
    const dim = 8;
    const q = rng.normals(40 * dim);
    const r = rng.normals(50 * dim);
    const turns: number[] = [];
    let done = 0;
    await nearestNeighbours(q, r, dim, 1, {
      chunkSize: 10,
      onProgress: (d) => {
        done = d;
        setImmediate(() => turns.push(done));
      },
    });
    // Each chunk's setImmediate ran before the next chunk (on every backend, also where data() resolves at once).
    expect(turns).toEqual([10, 20, 30, 40]);
  });

  it('orders exact ties by the lower reference row', async () => {
    const rng = new Rng(9);
    const dim = 4;
    // Coordinates in {-1, 0, 1}: only 81 distinct rows, so distances tie all the time.
    const grid = (n: number) => Float32Array.from({ length: n * dim }, () => rng.int(-1, 1));
    const q = grid(40);
    const r = grid(120);
    for (const k of [1, 3, 7]) {
      const got = await nearestNeighbours(q, r, dim, k, { chunkSize: 9 });
      const want = bruteForce(q, r, dim, k);
      // Any backend: the same distances, nearest first.
      for (let i = 0; i < 40; i++) {
        for (let t = 0; t < k; t++) expect(dist(q, i, r, got[i * k + t], dim)).toBe(dist(q, i, r, want[i * k + t], dim));
      }
      // tfjs's TopK on cpu and native: exactly the lower rows first.
      if (cpuLike()) expect(Array.from(got)).toEqual(Array.from(want));
    }
  });

  it('finds a query that is a reference at distance 0, and k = all references', async () => {
    const rng = new Rng(4);
    const r = rng.normals(30 * 8);
    const q = r.slice(8 * 17, 8 * 18);
    expect((await nearestNeighbours(q, r, 8, 1))[0]).toBe(17);
    const all = await nearestNeighbours(q, r, 8, 30);
    expect(new Set(all).size).toBe(30);
    expect(await nearestNeighbours(new Float32Array(0), r, 8, 2)).toEqual(new Int32Array(0));
  });

  it('rejects bad shapes and k with an AlaeError, leaving no tensors', async () => {
    const before = tf.memory().numTensors;
    const r = new Float32Array(12);
    await expect(nearestNeighbours(new Float32Array(5), r, 4, 1)).rejects.toThrow(AlaeError);
    await expect(nearestNeighbours(new Float32Array(4), new Float32Array(10), 4, 1)).rejects.toThrow(/reference values/);
    await expect(nearestNeighbours(new Float32Array(4), r, 4, 4)).rejects.toThrow(/k must be an integer in 1\.\.3/);
    await expect(nearestNeighbours(new Float32Array(4), r, 0, 1)).rejects.toThrow(/dim/);
    await expect(nearestNeighbours(new Float32Array(4), r, 4, 1, { chunkSize: 0 })).rejects.toThrow(/chunkSize/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
