/**
 * The encoder's convolutions with bias and twice-differentiable leaky ReLU
 * in one kernel (nn/conv-leaky.ts, backend/webgpu/conv2d.ts's leakyTwice
 * store) against the op chains they replace, on webgpu: values, first and
 * second derivatives (R1's penalty) bit for bit, for FromRGB's 1x1, conv_1's
 * 3x3, conv_2 with its 2x2 average and conv_2's stride-2 form (128 and up);
 * one dispatch for the forward; no tensor left behind. Skipped, with the
 * reason, when no WebGPU adapter is found (source
 * ../shared/webgpu-cpu/setup.sh to run them on the CPU).
 */
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { customKernelsOff } from '../../src/backend/kernel-adapter.js';
import { CONV_BIAS_LEAKY, convBiasLeaky, convDownBiasLeaky } from '../../src/nn/conv-leaky.js';
import { convDown } from '../../src/nn/conv-resample.js';
import { type Differentiation, conv, convDownFused, leakyRelu } from '../../src/nn/ops.js';
import { webgpuForTests } from '../setup-backend.js';
import { randArray, size } from './random-array.js';
import { bitDiff } from './bit-diff.js';
import { dispatchesOf } from './webgpu-dispatches.js';

const why = (await webgpuForTests()) ?? (customKernelsOff('webgpu') ? 'ALAE_FUSED=0 switches alae\'s webgpu kernels off' : null);
if (why) console.warn(`[webgpu-conv-leaky.test] SKIPPED: ${why}`);

type Op = (x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor, d: Differentiation) => tf.Tensor4D;
interface Case { name: string; x: number[]; w: number[]; fused: Op; chain: Op; program: string }

const same: Pick<Case, 'fused' | 'chain' | 'program'> = {
  fused: convBiasLeaky,
  chain: (x, w, b, d) => conv(x, w, b, true, d),
  program: 'AlaeConv2DBiasLeaky',
};
const down: Pick<Case, 'fused' | 'chain' | 'program'> = {
  fused: (x, w, b, d) => convDownBiasLeaky(x, w, b, d, false),
  chain: (x, w, b, d) => leakyRelu(convDown(x, w, d), d, b) as tf.Tensor4D,
  program: 'AlaeConv2DResampleBiasLeaky',
};
const strided: Pick<Case, 'fused' | 'chain' | 'program'> = {
  fused: (x, w, b, d) => convDownBiasLeaky(x, w, b, d, true),
  chain: (x, w, b, d) => leakyRelu(convDownFused(x, w), d, b) as tf.Tensor4D,
  program: 'AlaeConv2DBiasLeaky',
};

const cases: Case[] = [
  { name: 'FromRGB 1x1, batch 2, 3 -> 8', x: [2, 8, 8, 3], w: [1, 1, 3, 8], ...same },
  { name: 'conv_1 3x3, batch 3, 5x7, 5 -> 5', x: [3, 5, 7, 5], w: [3, 3, 5, 5], ...same },
  { name: 'conv_2 with the 2x2 average, batch 2, 8x8, 8 -> 16', x: [2, 8, 8, 8], w: [3, 3, 8, 16], ...down },
  { name: 'conv_2 with the 2x2 average, batch 3, 6x10, 7 -> 5', x: [3, 6, 10, 7], w: [3, 3, 7, 5], ...down },
  { name: 'conv_2 stride 2 (transformed kernel), batch 2, 8x8, 4 -> 6', x: [2, 8, 8, 4], w: [3, 3, 4, 6], ...strided },
];

const tensor = (shape: number[], seed: number): tf.Tensor4D => tf.tensor4d(randArray(size(shape), seed), shape as [number, number, number, number]);

async function sameBits(f: (op: Op) => tf.Tensor[], c: Case): Promise<void> {
  const before = tf.memory().numTensors;
  const fused = f(c.fused), chain = tf.tidy(() => f(c.chain));
  expect(tf.memory().numTensors).toBe(before + fused.length + chain.length);
  for (let i = 0; i < fused.length; i++) expect(await bitDiff(fused[i], chain[i]), `${c.name}: output ${i}`).toEqual({ differ: 0, rel: 0 });
  tf.dispose([...fused, ...chain]);
}

describe.skipIf(why !== null)(`convolution + bias + leaky ReLU in one kernel, on webgpu${why ? ` (skipped: ${why})` : ''}`, () => {
  it('is registered on webgpu (through the kernel adapter)', () => {
    expect(tf.getKernel(CONV_BIAS_LEAKY, 'webgpu')).toBeDefined();
  });

  for (const c of cases) {
    it(`the chain's bits: values, gradients and R1's second derivatives: ${c.name}`, async () => {
      const x = tensor(c.x, 1), w = tensor(c.w, 2), b = tf.tensor1d(randArray(c.w[3], 3).map((v) => 0.3 * v));
      const y0 = tf.tidy(() => c.chain(x, w, b, 'none'));
      const r = tensor(y0.shape, 4);
      y0.dispose();
      // Values (near-zero pre-activations included: a bias of minus a conv output puts some on the kink).
      await sameBits((op) => [op(x, w, b, 'once')], c);
      const loss = (op: Op) => (u: tf.Tensor, v: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(tf.square(op(u as tf.Tensor4D, v as tf.Tensor4D, s, 'twice')), r));
      await sameBits((op) => tf.grads(loss(op))([x, w, b]), c);
      const penalty = (op: Op) => (u: tf.Tensor, v: tf.Tensor, s: tf.Tensor) => tf.sum(tf.square(tf.grad((t: tf.Tensor) => loss(op)(t, v, s))(u)));
      await sameBits((op) => tf.grads(penalty(op))([x, w, b]), c);
      tf.dispose([x, w, b, r]);
    }, 60_000);
  }

  it('pre-activations exactly at zero and just below take the chain\'s side of the kink', async () => {
    const c = cases[1];
    const x = tensor(c.x, 5), w = tensor(c.w, 6);
    // A bias of minus one output channel's first value: that output is 0 exactly (0.2 * 0 + 0.8 * 0).
    const y = tf.tidy(() => conv(x, w, undefined, false, 'once'));
    const first = (await y.data()).slice(0, c.w[3]);
    y.dispose();
    const b = tf.tensor1d(Array.from(first, (v) => -v));
    await sameBits((op) => [op(x, w, b, 'once'), tf.grad((u: tf.Tensor) => tf.sum(op(u as tf.Tensor4D, w, b, 'once')))(x)], c);
    tf.dispose([x, w, b]);
  });

  it('one dispatch for the forward where the chain had two', () => {
    for (const c of cases.slice(0, 3)) {
      const x = tensor(c.x, 1), w = tensor(c.w, 2), b = tf.tensor1d(randArray(c.w[3], 3));
      let y: tf.Tensor = x;
      expect(dispatchesOf(() => (y = c.fused(x, w, b, 'once'))), c.name).toEqual({ [c.program]: 1 });
      tf.dispose([x, w, b, y]);
    }
  });

  it('refuses what it does not handle with one clear line', () => {
    const x = tensor([1, 5, 5, 4], 1), w = tensor([3, 3, 4, 4], 2), b = tf.tensor1d([1, 2, 3]);
    expect(() => tf.engine().runKernel(CONV_BIAS_LEAKY, { x, filter: w, bias: b }, { strides: 1, pad: 1, down: false })).toThrow(/bias is 3, expected 4/);
    expect(() => tf.engine().runKernel(CONV_BIAS_LEAKY, { x, filter: w }, { strides: 1, pad: 1, down: false })).toThrow(/bias is required/);
    expect(() => tf.engine().runKernel(CONV_BIAS_LEAKY, { x, filter: w, bias: tf.tensor1d([1, 2, 3, 4]) }, { strides: 1, pad: 1, down: true })).toThrow(/even height and width/);
    tf.dispose([x, w, b]);
  });
});
