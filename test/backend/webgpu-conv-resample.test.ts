/**
 * The convolutions with 2x resampling folded in (nn/conv-resample.ts,
 * backend/webgpu/conv*.ts) against the op chains they replace, on webgpu:
 * conv(upscale2d(x), w) and downscale2d(conv(x, w)), values, first and
 * second derivatives (all three kernels and their gradients), bit for bit;
 * one dispatch each; the model's blocks using them; no tensor left behind. Skipped, with the reason, when
 * no WebGPU adapter is found (source ../shared/webgpu-cpu/setup.sh to run
 * them on the CPU).
 */
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { customKernelsOff } from '../../src/backend/kernel-adapter.js';
import { resolveConfig } from '../../src/config/config.js';
import { AlaeModel } from '../../src/model/alae.js';
import { CONV_RESAMPLE, CONV_RESAMPLE_BACKPROP_FILTER, CONV_RESAMPLE_BACKPROP_INPUT, convDown, convUp } from '../../src/nn/conv-resample.js';
import { type Differentiation, conv, downscale2d, upscale2d } from '../../src/nn/ops.js';
import { webgpuForTests } from '../setup-backend.js';
import { randArray, size } from './random-array.js';
import { bitDiff } from './bit-diff.js';
import { dispatchesOf } from './webgpu-dispatches.js';

const why = (await webgpuForTests()) ?? (customKernelsOff('webgpu') ? 'ALAE_FUSED=0 switches alae\'s webgpu kernels off' : null);
if (why) console.warn(`[webgpu-conv-resample.test] SKIPPED: ${why}`);

type Op = (x: tf.Tensor4D, w: tf.Tensor4D, d: Differentiation) => tf.Tensor4D;

interface Case { name: string; x: number[]; w: number[]; fused: Op; chain: Op; out: (x: number[], w: number[]) => number[] }

const up: Pick<Case, 'fused' | 'chain' | 'out'> = {
  fused: convUp,
  chain: (x, w, d) => conv(upscale2d(x), w, undefined, false, d),
  out: (x, w) => [x[0], 2 * x[1], 2 * x[2], w[3]],
};
const down: Pick<Case, 'fused' | 'chain' | 'out'> = {
  fused: convDown,
  chain: (x, w, d) => downscale2d(conv(x, w, undefined, false, d), d),
  out: (x, w) => [x[0], x[1] / 2, x[2] / 2, w[3]],
};

/** DecodeBlock's conv_1 and EncodeBlock's conv_2 below 128 (test-tiny32 .. mnist shapes), odd channels, non-square, a split filter gradient. */
const cases: Case[] = [
  { name: 'up 4x4 -> 8x8, batch 2, 16 -> 8', x: [2, 4, 4, 16], w: [3, 3, 16, 8], ...up },
  { name: 'up 3x5 -> 6x10, batch 3, 5 -> 7', x: [3, 3, 5, 5], w: [3, 3, 5, 7], ...up },
  { name: 'up 16x16 -> 32x32, batch 8, 8 -> 8 (split filter gradient)', x: [8, 16, 16, 8], w: [3, 3, 8, 8], ...up },
  { name: 'down 8x8 -> 4x4, batch 2, 8 -> 16', x: [2, 8, 8, 8], w: [3, 3, 8, 16], ...down },
  { name: 'down 6x10 -> 3x5, batch 3, 7 -> 5', x: [3, 6, 10, 7], w: [3, 3, 7, 5], ...down },
  { name: 'down 32x32 -> 16x16, batch 8, 8 -> 8 (split filter gradient)', x: [8, 32, 32, 8], w: [3, 3, 8, 8], ...down },
];

const tensor = (shape: number[], seed: number): tf.Tensor4D => tf.tensor4d(randArray(size(shape), seed), shape as [number, number, number, number]);

/** f through the fused op and through the chain: every output the same bits, and no tensor left behind by the fused op. */
async function sameBits(c: Case, f: (op: Op) => tf.Tensor[]): Promise<void> {
  const before = tf.memory().numTensors;
  const fused = f(c.fused), chain = tf.tidy(() => f(c.chain));
  expect(tf.memory().numTensors).toBe(before + fused.length + chain.length);
  for (let i = 0; i < fused.length; i++) expect(await bitDiff(fused[i], chain[i]), `output ${i}`).toEqual({ differ: 0, rel: 0 });
  tf.dispose([...fused, ...chain]);
}

describe.skipIf(why !== null)(`convolutions with 2x resampling folded in, on webgpu${why ? ` (skipped: ${why})` : ''}`, () => {
  it('are registered on webgpu (through the kernel adapter)', () => {
    for (const k of [CONV_RESAMPLE, CONV_RESAMPLE_BACKPROP_INPUT, CONV_RESAMPLE_BACKPROP_FILTER]) expect(tf.getKernel(k, 'webgpu'), k).toBeDefined();
  });

  for (const c of cases) {
    it(`the chain's bits: values, gradients and second derivatives: ${c.name}`, async () => {
      const [x, w, r] = [tensor(c.x, 1), tensor(c.w, 2), tensor(c.out(c.x, c.w), 3)];
      // Values at inference and in training.
      await sameBits(c, (op) => [op(x, w, 'none'), op(x, w, 'once')]);
      // <op(x, w)^2, r>: its gradients run the input and filter gradient kernels.
      const loss = (op: Op) => (u: tf.Tensor, v: tf.Tensor) => tf.sum(tf.mul(tf.square(op(u as tf.Tensor4D, v as tf.Tensor4D, 'twice')), r));
      await sameBits(c, (op) => tf.grads(loss(op))([x, w]));
      // As R1: |d loss/dx|^2 differentiated again, through the input gradient kernel's gradients (tfjs has none
      // for Conv2DBackpropFilter; the filter gradient kernel's are checked below).
      const penalty = (op: Op) => (u: tf.Tensor, v: tf.Tensor) => tf.sum(tf.square(tf.grad((t: tf.Tensor) => loss(op)(t, v))(u)));
      await sameBits(c, (op) => tf.grads(penalty(op))([x, w]));
      tf.dispose([x, w, r]);
    }, 60_000);
  }

  it('with a bias (the encoder\'s inference form): added to each fine output before the average, the chain\'s bits; its gradient', async () => {
    for (const c of [cases[3], cases[4]]) {
      const [x, w, b, r] = [tensor(c.x, 1), tensor(c.w, 2), tf.tensor1d(randArray(c.w[3], 3)), tensor(c.out(c.x, c.w), 4)];
      const before = tf.memory().numTensors;
      let fused = x;
      expect(dispatchesOf(() => (fused = convDown(x, w, 'none', b)))).toEqual({ AlaeConv2DResample: 1 });
      const chain = tf.tidy(() => downscale2d(conv(x, w, b, false, 'none'), 'none'));
      expect(await bitDiff(fused, chain), c.name).toEqual({ differ: 0, rel: 0 });
      // The chain's bias gradient sums four times as many terms (each a quarter): the same to rounding.
      const gradB = (f: (v: tf.Tensor) => tf.Tensor) => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(f(v), r)))(b);
      const gf = gradB((v) => convDown(x, w, 'once', v)), gc = gradB((v) => downscale2d(conv(x, w, v, false, 'once'), 'once'));
      expect((await bitDiff(gf, gc)).rel, c.name).toBeLessThan(1e-6);
      tf.dispose([fused, chain, gf, gc]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, w, b, r]);
    }
  });

  it('the filter gradient kernel\'s gradients are its adjoints (<d/dx L, x> = L = <d/dy L, dy> for L = <dw(x, dy), g>, linear in each)', async () => {
    for (const c of [cases[1], cases[4]]) {
      const [x, w, dy, g] = [tensor(c.x, 1), tensor(c.w, 2), tensor(c.out(c.x, c.w), 3), tensor(c.w, 4)];
      const before = tf.memory().numTensors;
      // dw(x, dy) = d<op(x, w), dy>/dw: the filter gradient kernel.
      const L = (u: tf.Tensor, v: tf.Tensor) => tf.tidy(() => tf.sum(tf.mul(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(c.fused(u as tf.Tensor4D, t as tf.Tensor4D, 'twice'), v)))(w), g)));
      const [gx, gdy] = tf.grads(L)([x, dy]);
      const [l, lx, ldy] = await Promise.all([L(x, dy), tf.tidy(() => tf.sum(tf.mul(gx, x))), tf.tidy(() => tf.sum(tf.mul(gdy, dy)))].map(async (t) => { const v = (await t.data())[0]; t.dispose(); return v; }));
      expect(Math.abs(lx - l) / Math.abs(l), c.name).toBeLessThan(1e-5);
      expect(Math.abs(ldy - l) / Math.abs(l), c.name).toBeLessThan(1e-5);
      tf.dispose([gx, gdy]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, w, dy, g]);
    }
  });

  /** Only the dispatches of alae's programs. */
  const ours = (counts: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.entries(counts).filter(([k]) => k.startsWith('Alae')));

  it('one dispatch for the forward and each gradient, where the chain had the resampling besides', async () => {
    const x = tensor([2, 4, 4, 16], 1), w = tensor([3, 3, 16, 8], 2), dy = tensor([2, 8, 8, 8], 3);
    let outs: tf.Tensor[] = [];
    expect(dispatchesOf(() => (outs = [convUp(x, w, 'once')]))).toEqual({ AlaeConv2DResample: 1 });
    tf.dispose(outs);
    expect(ours(dispatchesOf(() => (outs = tf.grads((u: tf.Tensor, v: tf.Tensor) => tf.sum(tf.mul(convUp(u as tf.Tensor4D, v as tf.Tensor4D, 'once'), dy)))([x, w])))))
      .toEqual({ AlaeConv2DResample: 1, AlaeConv2DBackpropInputResample: 1, AlaeConv2DBackpropFilterResample: 1 });
    tf.dispose(outs);
    const xd = tensor([2, 8, 8, 16], 4), dyd = tensor([2, 4, 4, 8], 5);
    expect(ours(dispatchesOf(() => (outs = tf.grads((u: tf.Tensor, v: tf.Tensor) => tf.sum(tf.mul(convDown(u as tf.Tensor4D, v as tf.Tensor4D, 'once'), dyd)))([xd, w])))))
      .toEqual({ AlaeConv2DResample: 1, AlaeConv2DBackpropInputResample: 1, AlaeConv2DBackpropFilterResample: 1 });
    await Promise.all(outs.map((t) => t.data()));
    tf.dispose([...outs, x, w, dy, xd, dyd]);
  });

  it('the model\'s blocks run them: G in training form and R1\'s double backprop through E dispatch no resampling of their own', async () => {
    const model = AlaeModel.create(resolveConfig('test-micro'), 1);
    const latent = model.config.model.latentSize;
    const w = tf.tensor2d(randArray(2 * latent, 1), [2, latent]);
    const before = tf.memory().numTensors;
    let outs: tf.Tensor[] = [];
    const counts = dispatchesOf(() => {
      const img = model.decode(w, { differentiation: 'once', noise: { seed: 2 } });
      const r1 = (x: tf.Tensor) => tf.sum(tf.square(tf.grad((u: tf.Tensor) => tf.sum(model.encode(u as tf.Tensor4D, { differentiation: 'twice' })))(x)));
      outs = [img, tf.grad(r1)(img)];
    });
    await Promise.all(outs.map((t) => t.data()));
    expect(counts).not.toHaveProperty('AlaeUpsample2x');
    expect(counts).not.toHaveProperty('AlaeDownsample2x');
    for (const k of ['AlaeConv2DResample', 'AlaeConv2DBackpropInputResample']) expect(counts[k], k).toBeGreaterThan(0);
    tf.dispose(outs);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(w);
    model.dispose();
  });

  it('refuses what it does not handle with one clear line (odd sizes, a missing attr)', () => {
    const x = tensor([1, 5, 5, 4], 1), w = tensor([3, 3, 4, 4], 2);
    expect(() => tf.engine().runKernel(CONV_RESAMPLE, { x, filter: w }, { coarse: 'output', scale: 1 })).toThrow(/even height and width/);
    expect(() => tf.engine().runKernel(CONV_RESAMPLE, { x, filter: w }, { scale: 1 })).toThrow(/attrs coarse/);
    tf.dispose([x, w]);
  });
});
