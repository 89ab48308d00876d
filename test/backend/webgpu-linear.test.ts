/**
 * The linear layers' kernels on webgpu (nn/linear.ts, backend/webgpu/linear.ts):
 * the value against float64 (summed almost exactly, as the forward
 * convolutions), the gradients against float64 and against the op chain,
 * R1's second derivatives against the chain, the leaky ReLU's mask read
 * on the fly as BIAS_LEAKY_GRAD's multiply; one dispatch for the value and
 * one for every gradient the training tape asks for, only those computed;
 * no tensor left behind. Skipped, with the reason, when no WebGPU adapter
 * is found (source ../shared/webgpu-cpu/setup.sh to run them on the CPU).
 */
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { customKernelsOff } from '../../src/backend/kernel-adapter.js';
import { LINEAR, LINEAR_GRAD, linear, linearLeaky } from '../../src/nn/linear.js';
import { leakyRelu } from '../../src/nn/ops.js';
import { gradients } from '../../src/train/tape.js';
import { webgpuForTests } from '../setup-backend.js';
import { randArray } from './random-array.js';
import { bitDiff } from './bit-diff.js';
import { dispatchesOf } from './webgpu-dispatches.js';

const why = (await webgpuForTests()) ?? (customKernelsOff('webgpu') ? 'ALAE_FUSED=0 switches alae\'s webgpu kernels off' : null);
if (why) console.warn(`[webgpu-linear.test] SKIPPED: ${why}`);

const mat = (r: number, c: number, seed: number): tf.Tensor2D => tf.tensor2d(randArray(r * c, seed), [r, c]);

/** x @ w + b in float64, and the sum of |terms| of each output (the scale of its rounding error). */
function reference(x: Float32Array, w: Float32Array, b: Float32Array | null, M: number, K: number, N: number): { y: Float64Array; mag: Float64Array } {
  const y = new Float64Array(M * N), mag = new Float64Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = 0, a = 0;
    for (let k = 0; k < K; k++) {
      s += x[m * K + k] * w[k * N + n];
      a += Math.abs(x[m * K + k] * w[k * N + n]);
    }
    y[m * N + n] = s + (b ? b[n] : 0);
    mag[m * N + n] = a + (b ? Math.abs(b[n]) : 0);
  }
  return { y, mag };
}

/** Largest |got - want| / (sum of |terms|). */
function worst(got: ArrayLike<number>, want: ArrayLike<number>, mag: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]) / Math.max(mag[i], 1e-30));
  return e;
}

const shapes: Array<[number, number, number, string]> = [
  [8, 32, 32, 'MappingF b8 32 -> 32'],
  [3, 70, 5, 'odd sizes 3 x 70 -> 5'],
  [16, 600, 64, 'the encoder\'s styles: many inputs, 600 -> 64'],
];

describe.skipIf(why !== null)(`linear layers in one GEMM each way, on webgpu${why ? ` (skipped: ${why})` : ''}`, () => {
  it('are registered on webgpu (through the kernel adapter)', () => {
    for (const k of [LINEAR, LINEAR_GRAD]) expect(tf.getKernel(k, 'webgpu'), k).toBeDefined();
  });

  for (const [M, K, N, name] of shapes) {
    it(`value summed almost exactly, gradients within float32 of float64: ${name}`, async () => {
      const x = mat(M, K, 1), w = mat(K, N, 2), b = tf.tensor1d(randArray(N, 3)), r = mat(M, N, 4);
      const before = tf.memory().numTensors;
      const y0 = linear(x, w, undefined, 'once'), y = linear(x, w, b, 'once');
      const [xs, ws, bs, rs] = await Promise.all([x.data(), w.data(), b.data(), r.data()]) as Float32Array[];
      const ref = reference(xs, ws, null, M, K, N);
      // The product correctly rounded but for sums next to a rounding boundary (an ulp off), where
      // float32 accumulation is off by up to K * 2^-24 of the sum of |terms|; the bias added to it as tf.add would.
      const [yv0, yv] = [await y0.data(), await y.data()];
      for (let i = 0; i < yv.length; i++) {
        expect(Math.abs(yv0[i] - ref.y[i]), `y[${i}]`).toBeLessThanOrEqual(2 ** -23 * Math.abs(ref.y[i]) + 2 ** -30 * ref.mag[i]);
        expect(yv[i], `y[${i}] + bias`).toBe(Math.fround(yv0[i] + bs[i % N]));
      }
      y0.dispose();
      // d <y, r> / d (x, w, b) = (r w^T, x^T r, sum of r's rows), float32 sums.
      const [gx, gw, gb] = tf.grads((u: tf.Tensor, v: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(linear(u, v, c, 'once'), r)))([x, w, b]);
      const gxRef = new Float64Array(M * K), gxMag = new Float64Array(M * K), gwRef = new Float64Array(K * N), gwMag = new Float64Array(K * N);
      const gbRef = new Float64Array(N), gbMag = new Float64Array(N);
      for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
        const g = rs[m * N + n];
        for (let k = 0; k < K; k++) {
          gxRef[m * K + k] += g * ws[k * N + n]; gxMag[m * K + k] += Math.abs(g * ws[k * N + n]);
          gwRef[k * N + n] += xs[m * K + k] * g; gwMag[k * N + n] += Math.abs(xs[m * K + k] * g);
        }
        gbRef[n] += g; gbMag[n] += Math.abs(g);
      }
      expect(worst(await gx.data(), gxRef, gxMag)).toBeLessThan(K * 2 ** -23);
      expect(worst(await gw.data(), gwRef, gwMag)).toBeLessThan(M * 2 ** -23);
      expect(worst(await gb.data(), gbRef, gbMag)).toBeLessThan(M * 2 ** -23);
      tf.dispose([y, gx, gw, gb]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, w, b, r]);
    }, 60_000);
  }

  it('R1\'s second derivatives (through LINEAR_GRAD\'s gradient) agree with the op chain\'s', async () => {
    const [M, K, N] = [6, 24, 16];
    const x = mat(M, K, 5), w1 = mat(K, N, 6), b1 = tf.tensor1d(randArray(N, 7)), w2 = mat(N, 3, 8), b2 = tf.tensor1d(randArray(3, 9));
    const before = tf.memory().numTensors;
    // D-like: two linears; the penalty |d sum(D(x)) / dx|^2 differentiated in x and every parameter.
    const penalty = (d: 'twice' | 'none', chain: boolean) => (u: tf.Tensor, v1: tf.Tensor, c1: tf.Tensor, v2: tf.Tensor, c2: tf.Tensor) => {
      const lin = (a: tf.Tensor, v: tf.Tensor, c: tf.Tensor) => (chain ? linear(a, v, c, 'none') : linear(a, v, c, d));
      return tf.sum(tf.square(tf.grad((t: tf.Tensor) => tf.sum(tf.square(lin(lin(t, v1, c1), v2, c2))))(u)));
    };
    const ours = tf.grads(penalty('twice', false))([x, w1, b1, w2, b2]);
    const chain = tf.grads(penalty('none', true))([x, w1, b1, w2, b2]);
    for (let i = 0; i < ours.length; i++) expect((await bitDiff(ours[i], chain[i])).rel, `input ${i}`).toBeLessThan(1e-5);
    tf.dispose([...ours, ...chain]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w1, b1, w2, b2]);
  }, 60_000);

  it('with the leaky ReLU: the value is the chain\'s leaky ReLU of the sum, the gradient masks dy as BIAS_LEAKY_GRAD does', async () => {
    const [M, K, N] = [8, 32, 32];
    const x = mat(M, K, 10), w = mat(K, N, 11), r = mat(M, N, 13);
    // A bias of minus the first row's products puts those pre-activations on the kink (0 exactly).
    const first = (await linear(x, w, undefined, 'once').slice([0, 0], [1, N]).data());
    const b = tf.tensor1d(Array.from(first, (v) => -v));
    const before = tf.memory().numTensors;
    const y = linearLeaky(x, w, b, 'once');
    const pre = linear(x, w, b, 'once');
    const chainY = leakyRelu(pre, 'once');
    expect(await bitDiff(y, chainY)).toEqual({ differ: 0, rel: 0 });
    expect(Array.from((await y.data()).slice(0, N))).toEqual(new Array(N).fill(0));
    // d <leaky(x w + b), r> / d(x, w, b): dh = r * step(y, 0.2), then the linear's gradients of dh.
    const ours = tf.grads((u: tf.Tensor, v: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(linearLeaky(u, v, c, 'once'), r)))([x, w, b]);
    const chain = tf.grads((u: tf.Tensor, v: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(leakyRelu(linear(u, v, c, 'once'), 'once'), r)))([x, w, b]);
    for (let i = 0; i < 3; i++) expect(await bitDiff(ours[i], chain[i]), `input ${i}`).toEqual({ differ: 0, rel: 0 });
    tf.dispose([y, pre, chainY, ...ours, ...chain]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w, b, r]);
  }, 60_000);

  it('one dispatch for the value and one for the gradients the tape asks for, only those computed, the same bits as all three', async () => {
    const [M, K, N] = [8, 32, 16];
    const x = mat(M, K, 14), w = mat(K, N, 15), b = tf.tensor1d(randArray(N, 16)), r = mat(M, N, 17);
    let y: tf.Tensor = x;
    expect(dispatchesOf(() => (y = linearLeaky(x, w, b, 'once')))).toEqual({ [LINEAR]: 1 });
    y.dispose();
    const f = () => tf.sum(tf.mul(linearLeaky(x, w, b, 'once'), r));
    let all: tf.Tensor[] = [];
    let some: tf.Tensor[] = [];
    const counts = dispatchesOf(() => {
      all = tf.tidy(() => gradients(f, [x, w, b]).grads as tf.Tensor[]);
    });
    expect(counts[LINEAR_GRAD]).toBe(1);
    expect(Object.keys(counts).filter((k) => k.includes('MatMul') || k.includes('BiasLeaky'))).toEqual([]);
    // Only w's: the kernel computes dW alone (no dx, no db output), with the same bits.
    const kernels: string[] = [];
    const engine = tf.engine();
    const run = engine.runKernel;
    engine.runKernel = function (this: typeof engine, name: string, inputs: tf.NamedTensorMap, attrs?: tf.NamedAttrMap) {
      if (name === LINEAR_GRAD) kernels.push(JSON.stringify(attrs));
      return run.call(this, name, inputs, attrs);
    } as typeof run;
    try {
      some = tf.tidy(() => gradients(f, [w]).grads.map((g) => g!));
    } finally {
      engine.runKernel = run;
    }
    expect(kernels.map((k) => JSON.parse(k))).toEqual([{ dx: false, dw: true, db: false, leaky: true }]);
    expect(await bitDiff(some[0], all[1])).toEqual({ differ: 0, rel: 0 });
    tf.dispose([...all, ...some, x, w, b, r]);
  });

  it('refuses what it does not handle with one clear line', () => {
    const x = mat(2, 3, 1), w = mat(4, 5, 2);
    expect(() => tf.engine().runKernel(LINEAR, { x, w }, { leaky: false, hasBias: false })).toThrow(/x \[2,3\] and w \[4,5\] do not multiply/);
    const w3 = mat(3, 5, 3), b = tf.tensor1d([1, 2]);
    expect(() => tf.engine().runKernel(LINEAR, { x, w: w3, bias: b }, { leaky: false, hasBias: true })).toThrow(/bias \[2\] does not fit 5 outputs/);
    tf.dispose([x, w, w3, b]);
  });
});
