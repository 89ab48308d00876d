import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { customKernelsOn } from '../../src/backend/kernel-adapter.js';
import { styleEpilogue, styleEpilogueChain, styleEpilogueFused } from '../../src/nn/style-epilogue.js';
import { blur } from '../../src/nn/ops.js';
import { testBackend } from '../setup-backend.js';
import { normals } from '../seeded-tensors.js';

await testBackend();
/** The fused-vs-chain comparisons need the kernels (native backend); elsewhere they show as skipped. */
const fusedIt = styleEpilogueFused() ? it : it.skip;

/** Inputs of one epilogue: some pre-activations land within 1e-6 of zero, where leaky ReLU bends. */
function inputs(n: number, h: number, c: number, noiseBatch: number, seed: number) {
  const x = tf.tidy(() => {
    const v = normals(seed, [n, h, h, c]);
    return tf.where(tf.less(tf.abs(v), 0.05), tf.mul(v, 1e-5), v);
  }) as tf.Tensor4D;
  return {
    x,
    nw: normals(seed + 1, [c], 0.3),
    noise: normals(seed + 2, [noiseBatch, h, h, 1]) as tf.Tensor4D,
    b: normals(seed + 3, [c], 0.1),
    style: normals(seed + 4, [n, 2 * c], 0.5),
  };
}
type Inputs = ReturnType<typeof inputs>;
const dispose = (i: Inputs) => Object.values(i).forEach((t) => t.dispose());

const CASES: [string, number, number, number, number][] = [
  // name, batch, size, channels, noise batch
  ['4x4, 70 channels (two channel blocks), noise batch 1', 3, 4, 70, 1],
  ['8x8, noise per sample', 2, 8, 16, 2],
  ['3x3 (a mean over 9, not a power of two)', 2, 3, 8, 2],
  ['32x32, 8 channels (runs in parallel)', 4, 32, 8, 4],
];

describe('style epilogue (noise, bias, leaky, instance norm, style modulation)', () => {
  fusedIt.each(CASES)('fused forward = the op chain, bit for bit: %s', (_, n, h, c, nb) => {
    const i = inputs(n, h, c, nb, 10 * n + h);
    const fused = styleEpilogue(i.x, i.nw, i.noise, i.b, i.style);
    const chain = styleEpilogueChain(i.x, i.nw, i.noise, i.b, i.style);
    const a = fused.dataSync(), b = chain.dataSync();
    let differ = 0;
    for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) differ++;
    // Only the order of a double sum may differ: a rounding tie, if ever.
    expect(differ).toBeLessThanOrEqual(Math.ceil(a.length * 1e-4));
    expect(tf.max(tf.abs(tf.sub(fused, chain))).dataSync()[0]).toBeLessThan(1e-5);
    fused.dispose(); chain.dispose(); dispose(i);
  });

  fusedIt.each(CASES)('fused gradients = the op chain\'s: %s', (_, n, h, c, nb) => {
    const i = inputs(n, h, c, nb, 10 * n + h + 5);
    const r = normals(99, [n, h, h, c]);
    const loss = (f: typeof styleEpilogue) => (x: tf.Tensor, nw: tf.Tensor, b: tf.Tensor, s: tf.Tensor) =>
      tf.sum(tf.mul(f(x as tf.Tensor4D, nw, i.noise, b, s), r));
    const before = tf.memory().numTensors;
    const gf = tf.grads(loss(styleEpilogue))([i.x, i.nw, i.b, i.style]);
    const gc = tf.grads(loss(styleEpilogueChain))([i.x, i.nw, i.b, i.style]);
    expect(tf.memory().numTensors).toBe(before + 8);
    ['x', 'noise weight', 'bias', 'style'].forEach((name, k) => {
      expect(gf[k].shape, name).toEqual(gc[k].shape);
      const scale = tf.max(tf.abs(gc[k])).dataSync()[0];
      const err = tf.max(tf.abs(tf.sub(gf[k], gc[k]))).dataSync()[0];
      expect(scale, name).toBeGreaterThan(0);
      expect(err / scale, name).toBeLessThan(2e-5);
    });
    [...gf, ...gc, r].forEach((t) => t.dispose());
    dispose(i);
  });

  fusedIt('takes a batch-1 input under a batch of styles (the learned constant), with its gradient summed over the batch', () => {
    const i = inputs(3, 4, 8, 1, 21);
    const x1 = tf.slice(i.x, [0, 0, 0, 0], [1, 4, 4, 8]) as tf.Tensor4D;
    const r = normals(98, [3, 4, 4, 8]);
    const loss = (f: typeof styleEpilogue) => (x: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor4D, i.nw, i.noise, i.b, s), r));
    const [vf, vc] = [styleEpilogue(x1, i.nw, i.noise, i.b, i.style), styleEpilogueChain(x1, i.nw, i.noise, i.b, i.style)];
    expect(vf.shape).toEqual([3, 4, 4, 8]);
    expect(tf.max(tf.abs(tf.sub(vf, vc))).dataSync()[0]).toBeLessThan(1e-5);
    const [gf, gc] = [tf.grads(loss(styleEpilogue))([x1, i.style]), tf.grads(loss(styleEpilogueChain))([x1, i.style])];
    expect(gf[0].shape).toEqual([1, 4, 4, 8]);
    for (let k = 0; k < 2; k++) expect(tf.max(tf.abs(tf.sub(gf[k], gc[k]))).dataSync()[0] / tf.max(tf.abs(gc[k])).dataSync()[0]).toBeLessThan(2e-5);
    [vf, vc, x1, r, ...gf, ...gc].forEach((t) => t.dispose());
    dispose(i);
  });

  it('leaves no tensor behind, with and without a tape', () => {
    const i = inputs(2, 4, 8, 1, 7);
    const before = tf.memory().numTensors;
    styleEpilogue(i.x, i.nw, i.noise, i.b, i.style).dispose();
    const { value, grads } = tf.valueAndGrads((x: tf.Tensor, s: tf.Tensor) => tf.sum(styleEpilogue(x as tf.Tensor4D, i.nw, i.noise, i.b, s)))([i.x, i.style]);
    value.dispose();
    grads.forEach((t) => t.dispose());
    expect(tf.memory().numTensors).toBe(before);
    dispose(i);
  });

  it('is fused exactly where the backend registers the kernels', () => {
    expect(styleEpilogueFused()).toBe(customKernelsOn(tf.getBackend()));
    // The blur read on the fly: webgpu only (test/backend/webgpu-kernels.test.ts).
    expect(styleEpilogueFused({ blurFirst: true })).toBe(tf.getBackend() === 'webgpu' && customKernelsOn('webgpu'));
  });

  it('with the blur first: the blur op, then the epilogue (its values and gradients), no tensor left', () => {
    const i = inputs(2, 5, 4, 2, 31);
    const r = normals(96, [2, 5, 5, 4]);
    const before = tf.memory().numTensors;
    const loss = (blurFirst: boolean) => (x: tf.Tensor, s: tf.Tensor) =>
      tf.sum(tf.mul(styleEpilogue(blurFirst ? x as tf.Tensor4D : blur(x as tf.Tensor4D, 'once'), i.nw, i.noise, i.b, s, 'once', { blurFirst }), r));
    const [a, b] = [tf.valueAndGrads(loss(true))([i.x, i.style]), tf.valueAndGrads(loss(false))([i.x, i.style])];
    for (const [k, t] of [a.value, ...a.grads].entries()) {
      const want = [b.value, ...b.grads][k];
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(t, want))).dataSync()[0] / tf.max(tf.abs(want)).dataSync()[0]), `${k}`).toBeLessThan(2e-5);
    }
    tf.dispose([a.value, ...a.grads, b.value, ...b.grads]);
    expect(tf.memory().numTensors).toBe(before);
    r.dispose();
    dispose(i);
  });
});
