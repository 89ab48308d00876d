import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { customKernelsOn } from '../../src/backend/kernel-adapter.js';
import { type InstanceStats, instanceStats, instanceStatsBlurFused, instanceStatsBlurred, instanceStatsChain, instanceStatsFused } from '../../src/nn/instance-stats.js';
import { blur } from '../../src/nn/ops.js';
import { testBackend } from '../setup-backend.js';
import { activations, normals } from '../seeded-tensors.js';

await testBackend();
/** The fused-vs-chain comparisons need the kernels (native backend); elsewhere they show as skipped. */
const fusedIt = instanceStatsFused() ? it : it.skip;

const maxAbs = (t: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]);
const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => maxAbs(tf.sub(a, b)));

const CASES: [string, number, number, number, number][] = [
  // name, batch, size, channels, eps
  ['4x4, 70 channels (two channel blocks)', 3, 4, 70, 1e-5],
  ['3x3 (a mean over 9, not a power of two)', 2, 3, 8, 1e-5],
  ['32x32, 8 channels (runs in parallel)', 4, 32, 8, 1e-5],
  ['2x2, eps 1e-8 (the generator\'s)', 2, 2, 5, 1e-8],
];

describe('encoder statistics (mean, std, instance norm)', () => {
  fusedIt.each(CASES)('fused forward = the op chain, bit for bit: %s', (_, n, h, c, eps) => {
    const x = activations(n, h, c, 10 * n + h);
    const f = instanceStats(x, eps);
    const ch = instanceStatsChain(x, eps);
    for (const k of ['stats', 'normed'] as const) {
      expect(f[k].shape, k).toEqual(ch[k].shape);
      const a = f[k].dataSync(), b = ch[k].dataSync();
      let differ = 0;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differ++;
      // Only the order of a double sum may differ: a rounding tie, if ever.
      expect(differ, k).toBeLessThanOrEqual(Math.ceil(a.length * 1e-3));
      expect(maxDiff(f[k], ch[k]), k).toBeLessThan(1e-5);
    }
    tf.dispose([x, f.normed, f.stats, ch.normed, ch.stats]);
  });

  // Losses through both outputs, and through one of them (the tape then feeds zeros for the other); means and stds apart.
  const [mean, std] = [(s: InstanceStats) => tf.slice(s.stats, [0, 0], [-1, s.normed.shape[3]]), (s: InstanceStats) => tf.slice(s.stats, [0, s.normed.shape[3]], [-1, -1])];
  const USES: [string, (s: InstanceStats, r: tf.Tensor[]) => tf.Scalar][] = [
    ['both outputs', (s, r) => tf.add(tf.sum(tf.mul(s.normed, r[0])), tf.sum(tf.mul(s.stats, r[1]))) as tf.Scalar],
    ['normed only', (s, r) => tf.sum(tf.mul(s.normed, r[0]))],
    ['std only', (s, r) => tf.sum(tf.mul(std(s), r[2]))],
    ['mean and squared std', (s, r) => tf.add(tf.sum(tf.mul(mean(s), r[2])), tf.sum(tf.square(tf.mul(std(s), r[2])))) as tf.Scalar],
  ];
  fusedIt.each(CASES.flatMap(([name, ...rest]) => USES.map(([use, f]) => [`${name}, ${use}`, ...rest, f] as const)))(
    'fused gradient = the op chain\'s: %s', (_, n, h, c, eps, use) => {
      const x = activations(n, h, c, 10 * n + h + 5);
      const r = [normals(91, [n, h, h, c]), normals(92, [n, 2 * c]), normals(93, [n, c])];
      const before = tf.memory().numTensors;
      const gf = tf.grad((v: tf.Tensor) => use(instanceStats(v as tf.Tensor4D, eps), r))(x);
      const gc = tf.grad((v: tf.Tensor) => use(instanceStatsChain(v as tf.Tensor4D, eps), r))(x);
      expect(tf.memory().numTensors).toBe(before + 2);
      const scale = maxAbs(gc);
      expect(scale).toBeGreaterThan(0);
      expect(maxDiff(gf, gc) / scale).toBeLessThan(2e-5);
      tf.dispose([x, ...r, gf, gc]);
    });

  fusedIt('is left out where the ops are differentiated twice: \'twice\' runs the chain, whose gradient has a gradient', () => {
    const x = activations(2, 4, 6, 3);
    const r = normals(94, [2, 12]);
    // d/dx of |d(sum(stats * r))/dx|^2: an R1-shaped second derivative.
    const penalty = (d: 'once' | 'twice') => (v: tf.Tensor) =>
      tf.sum(tf.square(tf.grad((u: tf.Tensor) => tf.sum(tf.mul(instanceStats(u as tf.Tensor4D, 1e-5, d).stats, r)))(v)));
    const chain = (v: tf.Tensor) => tf.sum(tf.square(tf.grad((u: tf.Tensor) => tf.sum(tf.mul(instanceStatsChain(u as tf.Tensor4D, 1e-5).stats, r)))(v)));
    const before = tf.memory().numTensors;
    const g2 = tf.grad(penalty('twice'))(x);
    const g2c = tf.grad(chain)(x);
    expect(maxDiff(g2, g2c)).toBe(0);
    tf.dispose([g2, g2c]);
    expect(tf.memory().numTensors).toBe(before);
    // Differentiated once, the fused kernel runs, and tfjs finds no second-order path through it (where
    // another path exists, it would drop this one silently: hence 'twice' for R1's inner gradient).
    // (tfjs keeps the tensors of a gradient that throws half-way; not counted here.)
    expect(() => tf.tidy(() => tf.grad(penalty('once'))(x))).toThrow(/Cannot compute gradient/);
    tf.dispose([x, r]);
  });

  it('leaves no tensor behind, with and without a tape', () => {
    const x = activations(2, 4, 8, 7);
    const before = tf.memory().numTensors;
    tf.dispose(Object.values(instanceStats(x, 1e-5)));
    const { value, grads } = tf.valueAndGrads((v: tf.Tensor) => {
      const s = instanceStats(v as tf.Tensor4D, 1e-5);
      return tf.add(tf.sum(s.normed), tf.sum(s.stats)) as tf.Scalar;
    })([x]);
    value.dispose();
    grads.forEach((t) => t.dispose());
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('is fused exactly where the backend registers the kernels', () => {
    expect(instanceStatsFused()).toBe(customKernelsOn(tf.getBackend()));
    // The blur read on the fly: webgpu only (test/backend/webgpu-kernels.test.ts).
    expect(instanceStatsBlurFused()).toBe(tf.getBackend() === 'webgpu' && customKernelsOn('webgpu'));
  });

  it('blurred: the statistics, then the blur op (values and gradients), no tensor left', () => {
    const x = activations(2, 5, 8, 17);
    const r = normals(95, [2, 5, 5, 8]);
    const before = tf.memory().numTensors;
    const loss = (fold: boolean) => (v: tf.Tensor) => {
      const s = fold ? instanceStatsBlurred(v as tf.Tensor4D, 1e-5, 'once') : (({ normed, stats }) => ({ blurred: blur(normed, 'once'), stats }))(instanceStats(v as tf.Tensor4D, 1e-5, 'once'));
      return tf.add(tf.sum(tf.mul(s.blurred, r)), tf.sum(tf.square(s.stats))) as tf.Scalar;
    };
    const [a, b] = [tf.valueAndGrads(loss(true))([x]), tf.valueAndGrads(loss(false))([x])];
    expect(maxDiff(a.value, b.value)).toBeLessThan(1e-5 * maxAbs(b.value));
    expect(maxDiff(a.grads[0], b.grads[0])).toBeLessThan(2e-5 * maxAbs(b.grads[0]));
    tf.dispose([a.value, ...a.grads, b.value, ...b.grads]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, r]);
  });
});
