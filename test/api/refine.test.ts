/**
 * Refinement (api/refine.ts) on small random models: it lowers the loss it
 * optimises; steps 0 is exactly the one-pass result; same seed, same bytes;
 * abort leaves no tensors (refine writes no files, so none can be left);
 * its gradient is the finite difference of its loss; the identity term's
 * gradient flows through face-api's recognition net.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { tf, type Tensor } from '../../src/tf.js';
import { AlaeError } from '../../src/errors.js';
import { resolveConfig } from '../../src/config/config.js';
import { AlaeModel } from '../../src/model/alae.js';
import { Alae } from '../../src/api/alae.js';
import { refine } from '../../src/api/refine.js';
import { RefineObjective } from '../../src/api/refine-loss.js';
import { broadcastStyles } from '../../src/api/latents.js';
import { FaceIdentity } from '../../src/face/identity.js';
import { Rng } from '../../src/util/random.js';
import type { RawImage } from '../../src/image/image.js';

const FFHQ = path.resolve('../shared/faces/ffhq-aligned256');

let micro: Alae;
let tiny: Alae;

/** A random model with the noise weights and average w set off zero, so noise and the 'mean' start show. */
function model(preset: string, seed: number): Alae {
  const m = AlaeModel.create(resolveConfig(preset), seed);
  m.dlatentAvg.assign(tf.fill(m.dlatentAvg.shape, 0.2));
  for (const [name, v] of m.vars) if (name.includes('noise_weight')) v.assign(tf.fill(v.shape, 0.3));
  return new Alae(m, `random ${preset}`, tf.getBackend() as Alae['backend'], { align: 'none', batchSize: 4 });
}

/** Smooth random images (blobs), so there is something for a 16x16 generator to fit. */
function images(count: number, size: number, channels: number, seed: number): RawImage[] {
  const rng = new Rng(seed, 3);
  return Array.from({ length: count }, () => {
    const data = new Uint8Array(size * size * channels);
    const cx = rng.uniform() * size;
    const cy = rng.uniform() * size;
    const tint = Array.from({ length: channels }, () => 80 + 150 * rng.uniform());
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const g = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (0.1 * size * size));
        for (let c = 0; c < channels; c++) data[(y * size + x) * channels + c] = Math.round(20 + tint[c] * g);
      }
    }
    return { data, width: size, height: size, channels };
  });
}

const bytes = (imgs: RawImage[]) => imgs.map((i) => Buffer.from(i.data));
const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;

beforeAll(async () => {
  await testBackend();
  micro = model('test-micro', 3);
  tiny = model('test-tiny32', 5);
});

afterAll(() => {
  micro?.dispose();
  tiny?.dispose();
});

describe('refine', () => {
  it('lowers the loss it optimises, image by image, in w and in w+', async () => {
    const x = images(3, 16, 3, 1);
    for (const space of ['w', 'w+'] as const) {
      const r = await refine(micro, x, { steps: 15, space, lr: 0.05 });
      for (let i = 0; i < 3; i++) expect(r.lossAfter[i]).toBeLessThan(r.lossBefore[i]);
      // A random 16x16 generator barely changes its picture with w: a few percent is what there is.
      expect(mean(r.lossAfter)).toBeLessThan(0.97 * mean(r.lossBefore));
      expect(r.latents.kind).toBe(space === 'w' ? 'w' : 'styles');
      expect(r.latents.data.length).toBe(3 * micro.latentSize * (space === 'w' ? 1 : micro.styleSlots));
    }
  });

  it('steps 0 is exactly the one-pass reconstruction (and the average w from "mean")', async () => {
    const x = images(5, 16, 3, 2);
    const before = tf.memory().numTensors;
    const enc = await micro.encode(x);
    const onePass = await micro.decode(enc.latents, { seed: 7 });
    const r = await refine(micro, x, { steps: 0, seed: 7 });
    expect(Array.from(r.latents.data)).toEqual(Array.from(enc.latents.data));
    expect(bytes(r.images)).toEqual(bytes(onePass));
    expect(Array.from(r.lossAfter)).toEqual(Array.from(r.lossBefore));
    const plus = await refine(micro, x, { steps: 0, seed: 7, space: 'w+' });
    expect(Array.from(plus.latents.data)).toEqual(Array.from(broadcastStyles(enc.latents, micro.styleSlots).data));
    expect(bytes(plus.images)).toEqual(bytes(onePass));
    const avg = await refine(micro, x.slice(0, 1), { steps: 0, from: 'mean' });
    avg.latents.data.forEach((v) => expect(Math.abs(v - 0.2)).toBeLessThan(1e-6));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('same seed, same bytes; another seed, other noise; a row refines the same in any batch', async () => {
    const x = images(4, 16, 3, 3);
    const a = await refine(micro, x, { steps: 4, seed: 1 });
    const b = await refine(micro, x, { steps: 4, seed: 1 });
    expect(Buffer.from(a.latents.data.buffer).equals(Buffer.from(b.latents.data.buffer))).toBe(true);
    expect(bytes(a.images)).toEqual(bytes(b.images));
    const c = await refine(micro, x, { steps: 4, seed: 2 });
    expect(bytes(c.images)).not.toEqual(bytes(a.images));
    const one = await refine(micro, x, { steps: 4, seed: 1, batchSize: 1 });
    one.latents.data.forEach((v, i) => expect(Math.abs(v - a.latents.data[i])).toBeLessThan(1e-5));
  });

  it('snapshots: step k of a longer run is the k-step result, in every batch', async () => {
    const x = images(3, 16, 3, 8);
    const long = await refine(micro, x, { steps: 5, seed: 1, batchSize: 2, snapshotAt: [0, 2, 5] });
    expect(long.snapshots.map((s) => s.steps)).toEqual([0, 2, 5]);
    for (const s of long.snapshots) {
      const short = await refine(micro, x, { steps: s.steps, seed: 1, batchSize: 2 });
      expect(Buffer.from(s.latents.data.buffer).equals(Buffer.from(short.latents.data.buffer))).toBe(true);
    }
    await expect(refine(micro, x, { steps: 2, snapshotAt: [3] })).rejects.toThrow(/0\.\.2/);
  });

  it('abort: rejects with the reason, leaves no tensors (before, during, and from a timer)', async () => {
    const x = images(3, 16, 3, 4);
    const before = tf.memory().numTensors;
    const pre = new AbortController();
    pre.abort();
    await expect(refine(micro, x, { steps: 5, signal: pre.signal })).rejects.toMatchObject({ name: 'AbortError' });
    const mid = new AbortController();
    const steps: number[] = [];
    const run = refine(micro, x, {
      steps: 50,
      batchSize: 2,
      signal: mid.signal,
      onProgress: (p) => {
        steps.push(p.step);
        if (p.done === 2 && p.step === 3) mid.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    // The first batch of two ran to the end, the second stopped after step 3.
    expect(steps.length).toBe(53);
    expect(tf.memory().numTensors).toBe(before);
    const timed = refine(micro, x, { steps: 100000, signal: AbortSignal.timeout(300) });
    await expect(timed).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('no tensors left after a normal call: w, w+, from the mean, with the identity term', async () => {
    const x = images(2, 16, 3, 5);
    const before = tf.memory().numTensors;
    await refine(micro, x, { steps: 2 });
    await refine(micro, x, { steps: 2, space: 'w+', from: 'mean' });
    await refine(micro, x, { steps: 1, weights: { identity: 0.5 } });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('bad options and inputs are AlaeErrors', async () => {
    const x = images(1, 16, 3, 6);
    await expect(refine(micro, x, { steps: -1 })).rejects.toThrow(AlaeError);
    await expect(refine(micro, x, { lr: 0 })).rejects.toThrow(/lr/);
    await expect(refine(micro, images(1, 32, 3, 6))).rejects.toThrow(/16x16/);
    const gray = model('mnist-small', 1);
    try {
      await expect(refine(gray, images(1, 32, 1, 6), { weights: { identity: 1 } })).rejects.toThrow(/face model/);
    } finally {
      gray.dispose();
    }
  });

  it('its gradient is the finite difference of its loss (pixel and encoder-statistics terms)', () => {
    const x = images(2, 32, 3, 7);
    const xt = tf.tensor4d(x.flatMap((i) => Array.from(i.data, (v) => v / 127.5 - 1)), [2, 32, 32, 3]);
    const noise = tiny.model.makeNoise(1, tiny.model.maxLod, 0);
    const obj = new RefineObjective(tiny.model, xt, noise, { pixel: 1, perceptual: 1, identity: 0 }, null);
    const before = tf.memory().numTensors;
    try {
      const [analytic, numeric] = tf.tidy(() => {
        const w = tf.add(obj.encoded, 0.1);
        const f = (v: Tensor): Tensor => tf.sum(obj.perImage(v));
        const g = tf.grad(f)(w);
        // Along the gradient's own direction the derivative is |g|, large enough to measure in float32.
        const dir = tf.div(g, tf.norm(g));
        const h = 0.01;
        const diff = tf.div(tf.sub(f(tf.add(w, tf.mul(dir, h))), f(tf.sub(w, tf.mul(dir, h)))), 2 * h);
        return [tf.norm(g).dataSync()[0], diff.dataSync()[0]];
      });
      expect(analytic).toBeGreaterThan(0);
      expect(Math.abs(analytic - numeric)).toBeLessThan(0.02 * analytic);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      obj.dispose();
      xt.dispose();
      tf.dispose(noise);
    }
  });
});

describe('face identity', () => {
  it('descriptors tell two faces apart, and their gradient is the finite difference', async () => {
    const { readRgb } = await import('../../src/image/image.js');
    const img = await readRgb(path.join(FFHQ, '00000.png'));
    const net = FaceIdentity.load();
    const before = tf.memory().numTensors;
    try {
      const x = tf.tidy(() => tf.sub(tf.div(tf.tensor4d(img.data, [1, 256, 256, 3], 'float32'), 127.5), 1) as tf.Tensor4D);
      const probe = tf.tidy(() => tf.randomNormal([1, 128], 0, 1, 'float32', 10));
      const f = (v: Tensor): Tensor => tf.sum(tf.mul(net.descriptors(v as tf.Tensor4D, 'ffhq'), probe));
      const g = tf.tidy(() => tf.grad(f)(x));
      // Along the gradient's own direction the derivative is |g|, large enough to measure in float32.
      const dir = tf.tidy(() => tf.div(g, tf.norm(g)));
      const analytic = tf.tidy(() => tf.norm(g).dataSync()[0]);
      const h = 0.05;
      const numeric = tf.tidy(() => tf.div(tf.sub(f(tf.add(x, tf.mul(dir, h))), f(tf.sub(x, tf.mul(dir, h)))), 2 * h).dataSync()[0]);
      expect(Math.abs(analytic)).toBeGreaterThan(0);
      expect(Math.abs(analytic - numeric)).toBeLessThan(0.1 * Math.abs(analytic));
      // The face with a little noise is closer to itself than another face is.
      const other = await readRgb(path.join(FFHQ, '00001.png'));
      const y = tf.tidy(() => tf.sub(tf.div(tf.tensor4d(other.data, [1, 256, 256, 3], 'float32'), 127.5), 1) as tf.Tensor4D);
      const [same, diff] = tf.tidy(() => {
        const d = (t: tf.Tensor4D) => net.descriptors(t, 'ffhq');
        const shifted = tf.add(x, tf.randomNormal(x.shape, 0, 0.03, 'float32', 11)) as tf.Tensor4D;
        const cos = (a: Tensor, b: Tensor) => tf.sum(tf.mul(a, b)).div(tf.mul(tf.norm(a), tf.norm(b)));
        return [cos(d(x), d(shifted)).dataSync()[0], cos(d(x), d(y)).dataSync()[0]];
      });
      expect(same).toBeGreaterThan(0.99);
      expect(diff).toBeLessThan(same - 0.05);
      tf.dispose([x, y, dir, probe, g]);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      net.dispose();
    }
  });
});
