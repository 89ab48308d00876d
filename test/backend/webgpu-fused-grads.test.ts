/**
 * The WGSL kernels that fuse a block's gradient steps (backend/webgpu/
 * bias-leaky-grad.ts, pieces.ts) against the op chains they replace, on the
 * webgpu backend: bits, gradients and second derivatives, dispatches, no
 * tensor left behind.
 * Without a GPU they run on lavapipe (source ../shared/webgpu-cpu/setup.sh);
 * with no adapter at all they show as skipped, with the reason.
 */
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { BIAS_LEAKY_GRAD, BIAS_LEAKY_GRAD_GRAD, LEAKY_GRAD, leakyRelu } from '../../src/nn/ops.js';
import { seededNormals } from '../../src/train/noise.js';
import { webgpuForTests } from '../setup-backend.js';
import { normals } from '../seeded-tensors.js';
import { dispatchesOf } from './webgpu-dispatches.js';

const why = await webgpuForTests();
const title = (name: string): string => (why ? `${name} (skipped: ${why})` : name);
const gpuIt = (name: string, f: () => Promise<void>, timeout = 60_000) => it.skipIf(why !== null)(title(name), f, timeout);

/** Elements whose bits differ. */
async function differing(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  expect(a.shape).toEqual(b.shape);
  const [x, y] = [await a.data(), await b.data()];
  let n = 0;
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) n++;
  return n;
}

const run = (name: string, inputs: Record<string, tf.Tensor>): tf.Tensor[] =>
  [tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap) as tf.Tensor | tf.Tensor[]].flat();

/**
 * A leaky ReLU's value y with the cases where its sign matters: +-0, subnormals of both signs,
 * NaN, infinities, the rest normals.
 */
function values(seed: number, shape: number[]): tf.Tensor {
  const special = [0, -0, 1e-45, -1e-45, 1e-40, -1e-40, NaN, Infinity, -Infinity, 3e38, -3e38];
  const v = Float32Array.from(seededNormals(seed, shape.reduce((a, b) => a * b, 1)), (x, i) => (i < special.length ? special[i] : x));
  return tf.tensor(v, shape);
}

describe('webgpu leaky ReLU gradient kernels (the mask read off the value y)', () => {
  gpuIt('the gradient: dy * step(y, 0.2) in one dispatch, the chain\'s bits, its gradient itself', async () => {
    const shape = [3, 7, 5, 4];
    const dy = normals(11, shape), y = values(12, shape), r = normals(13, shape);
    const mask = tf.step(y, 0.2);
    const before = tf.memory().numTensors;
    let out: tf.Tensor[] = [];
    expect(dispatchesOf(() => (out = run(LEAKY_GRAD, { dy, y })))).toEqual({ [LEAKY_GRAD]: 1 });
    const chain = tf.mul(dy, mask);
    expect(await differing(out[0], chain)).toBe(0);
    const fused = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(run(LEAKY_GRAD, { dy: v, y })[0], r)))(dy);
    const chainGrad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.mul(v, mask), r)))(dy);
    expect(await differing(fused, chainGrad)).toBe(0);
    tf.dispose([...out, chain, fused, chainGrad]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([dy, y, r, mask]);
  });

  gpuIt('the bias gradient: dx and the bias gradient in one dispatch, the chain\'s bits (several reduction sizes)', async () => {
    for (const shape of [[2, 5, 4, 6], [8, 32], [3, 40, 40, 3]]) {
      const dy = normals(1, shape), y = values(2, shape), mask = tf.step(y, 0.2);
      const before = tf.memory().numTensors;
      let out: tf.Tensor[] = [];
      expect(dispatchesOf(() => (out = run(BIAS_LEAKY_GRAD, { dy, y })))).toEqual({ [BIAS_LEAKY_GRAD]: 1 });
      const dx = tf.mul(dy, mask), db = tf.sum(dx, shape.slice(0, -1).map((_, i) => i));
      expect(await differing(out[0], dx)).toBe(0);
      expect(await differing(out[1], db)).toBe(0);
      tf.dispose([...out, dx, db]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([dy, y, mask]);
    }
  });

  gpuIt('the bias gradient\'s gradient: (ddx + ddb) * step(y, 0.2), through dx and the bias gradient both, as the chain\'s', async () => {
    const shape = [4, 3, 3, 5];
    const dy = normals(3, shape), y = values(4, shape), mask = tf.step(y, 0.2);
    const r = normals(5, shape), q = normals(6, [5]);
    const before = tf.memory().numTensors;
    const fused = tf.grad((v: tf.Tensor) => { const [dx, db] = run(BIAS_LEAKY_GRAD, { dy: v, y }); return tf.add(tf.sum(tf.mul(dx, r)), tf.sum(tf.mul(db, q))); })(dy);
    const chain = tf.grad((v: tf.Tensor) => { const dx = tf.mul(v, mask); return tf.add(tf.sum(tf.mul(dx, r)), tf.sum(tf.mul(tf.sum(dx, [0, 1, 2]), q))); })(dy);
    expect(await differing(fused, chain)).toBe(0);
    expect(dispatchesOf(() => tf.dispose(run(BIAS_LEAKY_GRAD_GRAD, { ddx: r, ddb: q, y })))).toEqual({ [BIAS_LEAKY_GRAD_GRAD]: 1 });
    tf.dispose([fused, chain]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([dy, y, mask, r, q]);
  });

  gpuIt('leaky ReLU of x + bias: one gradient dispatch where the chain runs two', async () => {
    const x = normals(8, [2, 5, 4, 6]), bias = normals(9, [6], 0.5), r = normals(10, [2, 5, 4, 6]);
    const counts = dispatchesOf(() => tf.dispose(tf.grads((v: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(leakyRelu(v, 'once', c), r)))([x, bias])));
    expect(counts[BIAS_LEAKY_GRAD]).toBe(1);
    // The mul by r and its gradient; no multiply by the mask, no sum for the bias.
    expect(counts.BinaryOpProgram).toBe(2);
    expect(counts.AlaeSum).toBeUndefined();
    // Its second derivatives against the chain's: webgpu-kernels.test.ts, leaky ReLU of x + bias.
    tf.dispose([x, bias, r]);
  });
});

describe('webgpu split and concat', () => {
  /** Pieces one dispatch copies: the device's storage buffers per shader stage, less the whole (backend.ts asks for the adapter's limit). */
  const per = (): number => (tf.backend() as unknown as { device: { limits: { maxStorageBuffersPerShaderStage: number } } }).device.limits.maxStorageBuffersPerShaderStage - 1;

  gpuIt('the device binds the adapter\'s storage buffers per shader stage, not the spec\'s default 8', async () => {
    const adapter = await (globalThis as unknown as { navigator: { gpu: { requestAdapter(): Promise<{ limits: { maxStorageBuffersPerShaderStage: number } }> } } }).navigator.gpu.requestAdapter();
    expect(per() + 1).toBe(adapter.limits.maxStorageBuffersPerShaderStage);
  });

  gpuIt('tf.concat of more tensors than one tfjs program binds: that many a dispatch into place, the values as they are, on any axis', async () => {
    const p = per();
    for (const [count, axis] of [[p + 1, 0], [2 * p + 1, 1], [p + 2, 2]]) {
      const xs = Array.from({ length: count }, (_, i) => normals(40 + i, [2, 3, 4].map((d, k) => (k === axis ? 1 + (i % 3) : d))));
      const before = tf.memory().numTensors;
      let y = xs[0];
      expect(dispatchesOf(() => (y = tf.concat(xs, axis)))).toEqual({ AlaeConcat: Math.ceil(count / p) });
      const want = tf.tidy(() => xs.reduce((acc, x) => tf.concat([acc, x], axis)));
      expect(await differing(y, want), `${count} on axis ${axis}`).toBe(0);
      tf.dispose([y, want]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(xs);
    }
  });

  gpuIt('tf.addN of more tensors than the device binds: the left-to-right sum of tf.add, bit for bit, a dispatch per share', async () => {
    const p = per();
    for (const count of [p + 1, 2 * p + 3]) {
      const xs = Array.from({ length: count }, (_, i) => normals(60 + i, [3, 5, 4], 10 ** ((i % 5) - 2)));
      const before = tf.memory().numTensors;
      let y = xs[0];
      expect(dispatchesOf(() => (y = tf.addN(xs)))).toEqual({ AddNPackedProgram: 1 + Math.ceil((count - p) / (p - 1)) });
      expect(tf.memory().numTensors).toBe(before + 1);
      const want = tf.tidy(() => xs.slice(1).reduce((acc, x) => tf.add(acc, x), xs[0]));
      expect(await differing(y, want), `${count} tensors`).toBe(0);
      tf.dispose([y, want, ...xs]);
    }
  });

  gpuIt('tf.split and tf.concat\'s gradient: as many pieces a dispatch as the device binds, the values as they are, on any axis', async () => {
    const p = per();
    const x = normals(11, [3, 2 * p + 2, 4]);
    for (const [sizes, axis] of [[[1, 2, 3, 2 * p - 4], 1], [Array(2 * p + 2).fill(1), 1], [[2, 1], 0], [[3, 1], 2]] as [number[], number][]) {
      const before = tf.memory().numTensors;
      let pieces: tf.Tensor[] = [];
      expect(dispatchesOf(() => (pieces = tf.split(x, sizes, axis)))).toEqual({ AlaeSplit: Math.ceil(sizes.length / p) });
      let start = 0;
      for (const [i, s] of sizes.entries()) {
        const want = tf.slice(x, x.shape.map((_, k) => (k === axis ? start : 0)), x.shape.map((d, k) => (k === axis ? s : d)));
        expect(await differing(pieces[i], want), `piece ${i} of [${sizes}] on axis ${axis}`).toBe(0);
        want.dispose();
        start += s;
      }
      tf.dispose(pieces);
      expect(tf.memory().numTensors).toBe(before);
    }
    // The gradient of a concat of 8 weights: each piece its rows of dy.
    const ws = Array.from({ length: 8 }, (_, i) => normals(20 + i, [i + 1, 3]));
    const r = normals(30, [36, 3]);
    const grads = tf.grads((...v: tf.Tensor[]) => tf.sum(tf.mul(tf.concat(v, 0), r)))(ws);
    for (const [i, g] of grads.entries()) {
      const want = tf.slice(r, [(i * (i + 1)) / 2, 0], [i + 1, 3]);
      expect(await differing(g, want)).toBe(0);
      want.dispose();
    }
    tf.dispose([x, r, ...ws, ...grads]);
  });
});
