/**
 * alae's WGSL kernels (backend/webgpu/) against the op chains they replace, on
 * the webgpu backend: forward bits, gradients, no tensor left behind. Without
 * a GPU they run on lavapipe (source ../shared/webgpu-cpu/setup.sh); with no
 * adapter at all they show as skipped, with the reason.
 */
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import {
  INSTANCE_STATS, INSTANCE_STATS_BLUR_GRAD_GRAD, INSTANCE_STATS_BLUR_TWICE_GRAD, type InstanceStats, type InstanceStatsBlurred, instanceStats, instanceStatsBlurFused, instanceStatsBlurred,
  instanceStatsChain, instanceStatsFused,
} from '../../src/nn/instance-stats.js';
import { type Differentiation, LEAKY_GRAD, LEAKY_TWICE, blur, downscale2d, leakyRelu, pixelNorm, upscale2d } from '../../src/nn/ops.js';
import { STYLE_EPILOGUE, STYLE_EPILOGUE_BLUR, styleEpilogue, styleEpilogueChain, styleEpilogueFused } from '../../src/nn/style-epilogue.js';
import { seededNormals } from '../../src/train/noise.js';
import { resolveConfig } from '../../src/config/config.js';
import { AlaeModel } from '../../src/model/alae.js';
import { LREQAdam } from '../../src/train/lreq-adam.js';
import { disposeParts, type GradParts } from '../../src/train/grad-parts.js';
import { lerpAveraged } from '../../src/train/step.js';
import { ADAM_UPDATE, LERP_UPDATE, lerpUpdate } from '../../src/train/param-update.js';
import { groupsOf } from '../../src/backend/webgpu/param-update.js';
import { webgpuForTests } from '../setup-backend.js';
import { activations, normals } from '../seeded-tensors.js';
import { bitDiff as compare } from './bit-diff.js';
import { dispatchesOf } from './webgpu-dispatches.js';
import { LEAKY_CASES, LEAKY_SPECIALS, leakyDerivatives } from '../nn/leaky-cases.js';

const why = await webgpuForTests();
const title = (name: string): string => (why ? `${name} (skipped: ${why})` : name);
const gpuIt = (name: string, f: () => Promise<void>, timeout = 60_000) => it.skipIf(why !== null)(title(name), f, timeout);


describe('webgpu kernels against the op chains', () => {
  gpuIt('are registered on webgpu', async () => {
    for (const k of [STYLE_EPILOGUE, INSTANCE_STATS, LEAKY_TWICE, LEAKY_GRAD, ADAM_UPDATE, LERP_UPDATE]) expect(tf.getKernel(k, 'webgpu'), k).toBeDefined();
  });

  gpuIt('the twice-differentiable leaky ReLU: the chain\'s bits and mask, kinks, subnormals, NaN', async () => {
    const special = [0, -0, 1e-7, -1e-7, 1e-40, -1e-40, NaN, 3e38, -3e38, 0.5, -0.5];
    const v = Float32Array.from({ length: 70_001 }, (_, i) => (i < special.length ? special[i] : Math.sin(i) * 10 ** ((i % 13) - 8)));
    const x = tf.tensor(v);
    const before = tf.memory().numTensors;
    const value = leakyRelu(x, 'once');
    const chain = tf.tidy(() => tf.add(tf.mul(x, 0.2), tf.mul(tf.relu(x), 0.8)));
    expect(await compare(value, chain)).toEqual({ differ: 0, rel: expect.any(Number) });
    const g = tf.grad((u: tf.Tensor) => tf.sum(leakyRelu(u, 'once')))(x);
    const m = tf.step(x, 0.2);
    expect((await compare(g, m)).differ).toBe(0);
    tf.dispose([value, chain, g, m]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  gpuIt('the leaky ReLU\'s gradient read off its value: one dispatch, first and second derivatives as with the mask of x, bit for bit', async () => {
    const shape = [2, 9, 7, 3];
    const x = tf.tidy(() => tf.concat([tf.tensor1d(LEAKY_SPECIALS), tf.reshape(normals(31, [2 * 9 * 7 * 3 - LEAKY_SPECIALS.length], 1e-3), [-1])]).reshape(shape));
    const bias = tf.tensor1d([0, 0, -1e-7]), r = normals(32, shape), dy = normals(33, shape);
    expect(dispatchesOf(() => tf.dispose(tf.grad((u: tf.Tensor) => leakyRelu(u, 'once'))(x, dy)))).toEqual({ AlaeLeakyTwice: 1, AlaeLeakyGrad: 1 });
    const before = tf.memory().numTensors;
    // Elements that differ other than in the sign of a zero.
    const values = async (a: tf.Tensor, b: tf.Tensor): Promise<number> => {
      const [p, q] = [await a.data(), await b.data()];
      let n = 0;
      for (let i = 0; i < p.length; i++) if (!(p[i] === q[i] || Object.is(p[i], q[i]))) n++;
      return n;
    };
    for (const [k, [ours, ref]] of LEAKY_CASES.entries()) {
      const [g, gref] = [leakyDerivatives(ours, x, bias, r), leakyDerivatives(ref, x, bias, r)];
      for (let i = 0; i < 4; i++) {
        // The fused bias kernels' second derivative has -0 where the reference's graph gives +0,
        // where the pre-activation is zero (so it did with the saved mask: the two masks are equal).
        expect(k < 2 || i < 2 ? (await compare(g[i], gref[i])).differ : await values(g[i], gref[i])).toBe(0);
      }
      tf.dispose([...g, ...gref]);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, bias, r, dy]);
  });

  gpuIt('leaky ReLU of x + bias: the add and the leaky ReLU in one dispatch, the chain\'s bits, gradients and second derivatives', async () => {
    const x = normals(8, [2, 5, 4, 6], 1, 0) as tf.Tensor4D, bias = normals(9, [6], 0.5);
    const r = normals(10, [2, 5, 4, 6]);
    let fused = x;
    expect(dispatchesOf(() => (fused = leakyRelu(x, 'once', bias) as tf.Tensor4D))).toEqual({ AlaeBiasLeakyTwice: 1 });
    const chain = tf.tidy(() => { const h = tf.add(x, bias); return tf.add(tf.mul(h, 0.2), tf.mul(tf.relu(h), 0.8)); });
    expect(await compare(fused, chain)).toEqual({ differ: 0, rel: 0 });
    // |d/dx of <leaky(x + b)^2, r>|^2, differentiated with respect to x and b, against leaky(x + b) as two ops.
    const penalty = (f: (v: tf.Tensor, c: tf.Tensor) => tf.Tensor) => (v: tf.Tensor, c: tf.Tensor) =>
      tf.sum(tf.square(tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.square(f(u, c)), r)))(v)));
    const before = tf.memory().numTensors;
    const gf = tf.grads(penalty((v, c) => leakyRelu(v, 'twice', c)))([x, bias]);
    const gc = tf.grads(penalty((v, c) => leakyRelu(tf.add(v, c), 'twice')))([x, bias]);
    expect(tf.memory().numTensors).toBe(before + 4);
    for (let i = 0; i < 2; i++) expect(await compare(gf[i], gc[i])).toEqual({ differ: 0, rel: 0 });
    tf.dispose([x, bias, r, fused, chain, ...gf, ...gc]);
  });

  gpuIt('the gradient of tile (the style slots): one reduction, the sum of the copies, twice differentiable', async () => {
    const w = normals(11, [3, 1, 5]);
    const r = normals(12, [3, 8, 5]);
    let g = w;
    const counts = dispatchesOf(() => (g = tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.tile(u, [1, 8, 1]), r)))(w)));
    expect(counts).toMatchObject({ AlaeSum: 1 });
    expect(counts).not.toHaveProperty('SliceProgram');
    const want = tf.sum(r, 1, true);
    expect((await compare(g, want)).rel).toBeLessThan(1e-6);
    // d/dw of |d<tile(w)^2, r>/dw|^2 = 8 w (sum of r over the copies)^2.
    const gg = tf.grad((u: tf.Tensor) => tf.sum(tf.square(tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.square(tf.tile(v, [1, 8, 1])), r)))(u))))(w);
    const want2 = tf.tidy(() => tf.mul(tf.mul(w, tf.square(want)), 8));
    expect((await compare(gg, want2)).rel).toBeLessThan(1e-5);
    tf.dispose([w, r, g, want, gg, want2]);
  });

  gpuIt('pixel norm: the chain\'s bits in one dispatch, the chain\'s gradient', async () => {
    const z = normals(13, [5, 40], 2);
    const r = normals(14, [5, 40]);
    let y = z;
    expect(dispatchesOf(() => (y = pixelNorm(z)))).toEqual({ AlaePixelNorm: 1 });
    const chain = tf.tidy(() => tf.div(z, tf.sqrt(tf.add(tf.mean(tf.square(z), -1, true), 1e-8))));
    expect(await compare(y, chain)).toEqual({ differ: 0, rel: 0 });
    const before = tf.memory().numTensors;
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(pixelNorm(v), r)))(z);
    const gc = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.div(v, tf.sqrt(tf.add(tf.mean(tf.square(v), -1, true), 1e-8))), r)))(z);
    expect(tf.memory().numTensors).toBe(before + 2);
    expect((await compare(g, gc)).rel).toBeLessThan(1e-6);
    tf.dispose([z, r, y, chain, g, gc]);
  });

  gpuIt('2x up- and down-sampling and their adjoints: tfjs\'s resize and pooling bits, one dispatch each, twice differentiable', async () => {
    const x = normals(3, [2, 6, 10, 3]) as tf.Tensor4D, v = normals(4, [2, 6, 10, 3]) as tf.Tensor4D;
    const dyDown = normals(5, [2, 3, 5, 3]) as tf.Tensor4D, dyUp = normals(6, [2, 12, 20, 3]) as tf.Tensor4D;
    let down = x, up = x, gDown = x, gUp = x;
    expect(dispatchesOf(() => (down = downscale2d(x, 'once')))).toEqual({ AlaeDownsample2x: 1 });
    expect(dispatchesOf(() => (up = upscale2d(x)))).toEqual({ AlaeUpsample2x: 1 });
    expect(dispatchesOf(() => (gDown = tf.grad((u: tf.Tensor) => tf.sum(tf.mul(downscale2d(u as tf.Tensor4D, 'once'), dyDown)))(x) as tf.Tensor4D)))
      .toMatchObject({ AlaeUpsample2x: 1 });
    gUp = tf.grad((u: tf.Tensor) => tf.sum(tf.mul(upscale2d(u as tf.Tensor4D), dyUp)))(x) as tf.Tensor4D;
    const chain = tf.tidy(() => [
      tf.avgPool(x, 2, 2, 'valid'), tf.image.resizeNearestNeighbor(x, [12, 20]),
      tf.mul(tf.image.resizeNearestNeighbor(dyDown, [6, 10]), 0.25), tf.mul(tf.avgPool(dyUp, 2, 2, 'valid'), 4),
    ]);
    for (const [i, t] of [down, up, gDown, gUp].entries()) expect(await compare(t, chain[i]), `${i}`).toEqual({ differ: 0, rel: 0 });
    // The second derivative of |A x|^2 along v is 2 A^T A v.
    const hv = tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.grad((w: tf.Tensor) => tf.sum(tf.square(downscale2d(w as tf.Tensor4D, 'twice'))))(u), v)))(x);
    const want = tf.tidy(() => tf.mul(tf.mul(tf.image.resizeNearestNeighbor(tf.avgPool(v, 2, 2, 'valid'), [6, 10]), 0.25), 2));
    expect((await compare(hv, want)).rel).toBeLessThan(1e-6);
    tf.dispose([x, v, dyDown, dyUp, down, up, gDown, gUp, hv, want, ...chain]);
  });

  const STATS: [string, number, number, number, number][] = [
    // name, batch, size, channels, eps
    ['4x4, 70 channels', 3, 4, 70, 1e-5],
    ['3x3 (not a power of two)', 2, 3, 8, 1e-5],
    ['64x64 (256 threads a pair, as tfjs\'s reduction)', 2, 64, 3, 1e-5],
    ['192x192 (512 threads a pair)', 1, 192, 2, 1e-5],
    ['2x2, eps 1e-8', 2, 2, 5, 1e-8],
  ];

  for (const [name, n, h, c, eps] of STATS) {
    gpuIt(`encoder statistics, forward = the chain bit for bit: ${name}`, async () => {
      const x = activations(n, h, c, 10 * n + h);
      let f = { normed: x, stats: x as tf.Tensor };
      expect(dispatchesOf(() => (f = instanceStats(x, eps, 'once')))).toEqual({ AlaeInstanceStats: 1 });
      const ch = instanceStatsChain(x, eps);
      for (const k of ['stats', 'normed'] as const) expect(await compare(f[k], ch[k]), k).toEqual({ differ: 0, rel: 0 });
      tf.dispose([x, f.normed, f.stats, ch.normed, ch.stats]);
    });

    gpuIt(`encoder statistics, gradient = the chain's: ${name}`, async () => {
      const x = activations(n, h, c, 10 * n + h + 5);
      const r = [normals(91, [n, h, h, c]), normals(92, [n, 2 * c])];
      const use = (s: InstanceStats) => tf.add(tf.sum(tf.mul(s.normed, r[0])), tf.sum(tf.mul(s.stats, r[1]))) as tf.Scalar;
      const before = tf.memory().numTensors;
      const gf = tf.grad((v: tf.Tensor) => use(instanceStats(v as tf.Tensor4D, eps, 'once')))(x);
      const gc = tf.grad((v: tf.Tensor) => use(instanceStatsChain(v as tf.Tensor4D, eps)))(x);
      expect(tf.memory().numTensors).toBe(before + 2);
      expect((await compare(gf, gc)).rel).toBeLessThan(2e-5);
      tf.dispose([x, ...r, gf, gc]);
    });
  }

  for (const [name, n, h, c, eps] of STATS) {
    gpuIt(`encoder statistics differentiated twice (R1-shaped) = the chain's: ${name}`, async () => {
      const x = activations(n, h, c, 10 * n + h + 7);
      const r = [normals(81, [n, h, h, c]), normals(82, [n, 2 * c])];
      // |d/dx of a loss through both outputs, means and stds|^2, differentiated with respect to x and to a weight on normed.
      const penalty = (f: (v: tf.Tensor4D) => InstanceStats) => (v: tf.Tensor, k: tf.Tensor) => {
        const inner = tf.grad((u: tf.Tensor) => {
          const s = f(u as tf.Tensor4D);
          return tf.add(tf.sum(tf.mul(tf.square(s.normed), tf.mul(r[0], k))), tf.sum(tf.mul(tf.square(s.stats), r[1]))) as tf.Scalar;
        })(v);
        return tf.sum(tf.square(inner)) as tf.Scalar;
      };
      const k = normals(84, [n, h, h, c], 0.5, 1);
      const before = tf.memory().numTensors;
      expect(instanceStatsFused('twice')).toBe(true);
      let gf: tf.Tensor[] = [];
      const counts = dispatchesOf(() => (gf = tf.grads(penalty((v) => instanceStats(v, eps, 'twice')))([x, k])));
      // The forward, the inner gradient from x, its gradient, the outer gradient through the forward from what it kept.
      expect(Object.fromEntries(Object.entries(counts).filter(([p]) => p.startsWith('AlaeInstanceStats')))).toEqual({
        AlaeInstanceStats: 1, AlaeInstanceStatsTwiceGrad: 1, AlaeInstanceStatsGradGrad: 1, AlaeInstanceStatsGrad: 1,
      });
      const gc = tf.grads(penalty((v) => instanceStatsChain(v, eps)))([x, k]);
      expect(tf.memory().numTensors).toBe(before + 4);
      for (let i = 0; i < 2; i++) expect((await compare(gf[i], gc[i])).rel, ['x', 'k'][i]).toBeLessThan(2e-4);
      tf.dispose([x, k, ...r, ...gf, ...gc]);
    });
  }

  // The encoder's blur(normed): one kernel where today's path runs the statistics kernel and tfjs's
  // depthwise blur (forward, its adjoint, and R1's second derivative through both).
  const BLURRED: [string, number, number, number, number][] = [
    // name, batch, height, width, channels (a multiple of 4 and more than 4x4: tfjs's vec4 blur program)
    ['4x4, 70 channels', 3, 4, 4, 70],
    ['3x5, 8 channels', 2, 3, 5, 8],
    ['6x9, 12 channels (tfjs\'s vec4 blur)', 2, 6, 9, 12],
    ['64x64 (256 threads a pair)', 1, 64, 64, 3],
  ];
  const separate = (x: tf.Tensor4D, d: Differentiation): InstanceStatsBlurred => tf.tidy(() => {
    const s = instanceStats(x, 1e-5, d);
    return { blurred: blur(s.normed, d), stats: s.stats };
  });
  const blurredActivations = (n: number, h: number, w: number, c: number, seed: number): tf.Tensor4D =>
    tf.tidy(() => tf.leakyRelu(normals(seed, [n, h, w, c], 1.5, 0.3), 0.2) as tf.Tensor4D);

  for (const [name, n, h, w, c] of BLURRED) {
    gpuIt(`encoder statistics with the blur: forward, gradient and second derivatives = statistics then blur, bit for bit: ${name}`, async () => {
      const x = blurredActivations(n, h, w, c, 7 * h + w);
      const r = [normals(71, [n, h, w, c]), normals(72, [n, 2 * c])];
      const k = normals(73, [n, h, w, c], 0.5, 1);
      const before = tf.memory().numTensors;
      for (const d of ['none', 'once'] as Differentiation[]) {
        let f = { blurred: x, stats: x as tf.Tensor };
        expect(dispatchesOf(() => (f = instanceStatsBlurred(x, 1e-5, d)))).toEqual({ AlaeInstanceStatsBlur: 1 });
        const ch = separate(x, d);
        for (const key of ['blurred', 'stats'] as const) expect(await compare(f[key], ch[key]), `${d} ${key}`).toEqual({ differ: 0, rel: 0 });
        tf.dispose([f.blurred, f.stats, ch.blurred, ch.stats]);
      }
      const use = (s: InstanceStatsBlurred) => tf.add(tf.sum(tf.mul(s.blurred, r[0])), tf.sum(tf.mul(s.stats, r[1]))) as tf.Scalar;
      let gf = x;
      const counts = dispatchesOf(() => (gf = tf.grad((v: tf.Tensor) => use(instanceStatsBlurred(v as tf.Tensor4D, 1e-5, 'once')))(x) as tf.Tensor4D));
      expect(counts).toMatchObject({ AlaeInstanceStatsBlur: 1, AlaeInstanceStatsBlurGrad: 1 });
      expect(Object.keys(counts).filter((p) => p.startsWith('Depthwise'))).toEqual([]);
      const gc = tf.grad((v: tf.Tensor) => use(separate(v as tf.Tensor4D, 'once')))(x);
      expect(await compare(gf, gc)).toEqual({ differ: 0, rel: 0 });
      // R1-shaped: |d/dx of a loss through both outputs|^2, differentiated with respect to x and a weight on blur(normed).
      const penalty = (f: (v: tf.Tensor4D) => InstanceStatsBlurred) => (v: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(tf.grad((u: tf.Tensor) => {
        const s = f(u as tf.Tensor4D);
        return tf.add(tf.sum(tf.mul(tf.square(s.blurred), tf.mul(r[0], q))), tf.sum(tf.mul(tf.square(s.stats), r[1]))) as tf.Scalar;
      })(v))) as tf.Scalar;
      expect(instanceStatsBlurFused('twice')).toBe(true);
      let g2: tf.Tensor[] = [];
      const counts2 = dispatchesOf(() => (g2 = tf.grads(penalty((v) => instanceStatsBlurred(v, 1e-5, 'twice')))([x, k])));
      // The forward, R1's inner gradient (reading x: no recomputed statistics), its gradient, and the outer
      // gradient through the forward (untaped: from what the forward kept).
      expect(Object.fromEntries(Object.entries(counts2).filter(([p]) => p.startsWith('AlaeInstanceStats')))).toEqual({
        AlaeInstanceStatsBlur: 1, [INSTANCE_STATS_BLUR_TWICE_GRAD]: 1, [INSTANCE_STATS_BLUR_GRAD_GRAD]: 1, AlaeInstanceStatsBlurGrad: 1,
      });
      expect(Object.keys(counts2).filter((p) => p.startsWith('Depthwise'))).toEqual([]);
      const c2 = tf.grads(penalty((v) => separate(v, 'twice')))([x, k]);
      for (let i = 0; i < 2; i++) expect(await compare(g2[i], c2[i]), ['x', 'k'][i]).toEqual({ differ: 0, rel: 0 });
      // And against the op chain (statsAndNorm then blur): the fused gradients' own roundings.
      const op = tf.grads(penalty((v) => tf.tidy(() => { const s = instanceStatsChain(v, 1e-5); return { blurred: blur(s.normed, 'twice'), stats: s.stats }; })))([x, k]);
      for (let i = 0; i < 2; i++) expect((await compare(g2[i], op[i])).rel, ['x', 'k'][i]).toBeLessThan(2e-4);
      tf.dispose([gf, gc, ...g2, ...c2, ...op]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, k, ...r]);
    });
  }

  const EPILOGUE: [string, number, number, number, number][] = [
    // name, batch, size, channels, noise batch
    ['4x4, 70 channels, noise batch 1', 3, 4, 70, 1],
    ['8x8, noise per sample', 2, 8, 16, 2],
    ['3x3', 2, 3, 8, 2],
    ['64x64 (256 threads a pair)', 2, 64, 4, 2],
    ['192x192 (512 threads a pair)', 1, 192, 2, 1],
  ];
  /** Inputs of one epilogue: some pre-activations land within 1e-6 of zero, where leaky ReLU bends. */
  function epilogueInputs(n: number, h: number, c: number, nb: number, seed: number) {
    const x = tf.tidy(() => {
      const v = normals(seed, [n, h, h, c]);
      return tf.where(tf.less(tf.abs(v), 0.05), tf.mul(v, 1e-5), v);
    }) as tf.Tensor4D;
    return { x, nw: normals(seed + 1, [c], 0.3), noise: normals(seed + 2, [nb, h, h, 1]) as tf.Tensor4D, b: normals(seed + 3, [c], 0.1), style: normals(seed + 4, [n, 2 * c], 0.5) };
  }

  for (const [name, n, h, c, nb] of EPILOGUE) {
    for (const d of ['none', 'once'] as Differentiation[]) {
      gpuIt(`style epilogue (${d}), forward = the chain bit for bit: ${name}`, async () => {
        const i = epilogueInputs(n, h, c, nb, 10 * n + h);
        let fused = i.x;
        expect(dispatchesOf(() => (fused = styleEpilogue(i.x, i.nw, i.noise, i.b, i.style, d)))).toEqual({ AlaeStyleEpilogue: 1 });
        const chain = styleEpilogueChain(i.x, i.nw, i.noise, i.b, i.style, d);
        expect(await compare(fused, chain)).toEqual({ differ: 0, rel: 0 });
        tf.dispose([fused, chain, ...Object.values(i)]);
      });
    }

    gpuIt(`style epilogue, gradients = the chain's: ${name}`, async () => {
      const i = epilogueInputs(n, h, c, nb, 10 * n + h + 5);
      const r = normals(99, [n, h, h, c]);
      const loss = (f: typeof styleEpilogue) => (x: tf.Tensor, nw: tf.Tensor, b: tf.Tensor, s: tf.Tensor) =>
        tf.sum(tf.mul(f(x as tf.Tensor4D, nw, i.noise, b, s, 'once'), r));
      const before = tf.memory().numTensors;
      const gf = tf.grads(loss(styleEpilogue))([i.x, i.nw, i.b, i.style]);
      const gc = tf.grads(loss(styleEpilogueChain))([i.x, i.nw, i.b, i.style]);
      expect(tf.memory().numTensors).toBe(before + 8);
      for (const [k, label] of ['x', 'noise weight', 'bias', 'style'].entries()) expect((await compare(gf[k], gc[k])).rel, label).toBeLessThan(2e-5);
      tf.dispose([...gf, ...gc, r, ...Object.values(i)]);
    });
  }

  for (const [name, n, h, c, nb] of EPILOGUE) {
    gpuIt(`style epilogue with the blur first: forward and gradients = blur then the epilogue, bit for bit: ${name}`, async () => {
      const i = epilogueInputs(n, h, c, nb, 10 * n + h + 9);
      const r = normals(97, [n, h, h, c]);
      expect(styleEpilogueFused({ blurFirst: true })).toBe(true);
      const before = tf.memory().numTensors;
      for (const d of ['none', 'once'] as Differentiation[]) {
        let fused = i.x;
        expect(dispatchesOf(() => (fused = styleEpilogue(i.x, i.nw, i.noise, i.b, i.style, d, { blurFirst: true })))).toEqual({ [STYLE_EPILOGUE_BLUR]: 1 });
        const apart = tf.tidy(() => styleEpilogue(blur(i.x, d), i.nw, i.noise, i.b, i.style, d));
        expect(await compare(fused, apart), d).toEqual({ differ: 0, rel: 0 });
        tf.dispose([fused, apart]);
      }
      const loss = (blurFirst: boolean) => (x: tf.Tensor, nw: tf.Tensor, b: tf.Tensor, s: tf.Tensor) =>
        tf.sum(tf.mul(styleEpilogue(blurFirst ? x as tf.Tensor4D : blur(x as tf.Tensor4D, 'once'), nw, i.noise, b, s, 'once', { blurFirst }), r));
      let gf: tf.Tensor[] = [];
      const counts = dispatchesOf(() => (gf = tf.grads(loss(true))([i.x, i.nw, i.b, i.style])));
      expect(counts).toMatchObject({ AlaeStyleEpilogueBlur: 1, AlaeStyleEpilogueBlurGrad: 1 });
      expect(Object.keys(counts).filter((p) => p.startsWith('Depthwise'))).toEqual([]);
      const gc = tf.grads(loss(false))([i.x, i.nw, i.b, i.style]);
      for (const [k, label] of ['x', 'noise weight', 'bias', 'style'].entries()) expect(await compare(gf[k], gc[k]), label).toEqual({ differ: 0, rel: 0 });
      const chain = tf.grads((x: tf.Tensor, nw: tf.Tensor, b: tf.Tensor, s: tf.Tensor) =>
        tf.sum(tf.mul(styleEpilogueChain(x as tf.Tensor4D, nw, i.noise, b, s, 'once', { blurFirst: true }), r)))([i.x, i.nw, i.b, i.style]);
      for (const [k, label] of ['x', 'noise weight', 'bias', 'style'].entries()) expect((await compare(gf[k], chain[k])).rel, label).toBeLessThan(2e-5);
      tf.dispose([...gf, ...gc, ...chain]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([r, ...Object.values(i)]);
    });
  }

  gpuIt('style epilogue: a batch-1 input under a batch of styles, its gradient summed over the batch; no tensor left', async () => {
    const i = epilogueInputs(3, 4, 8, 1, 21);
    const x1 = tf.slice(i.x, [0, 0, 0, 0], [1, 4, 4, 8]) as tf.Tensor4D;
    const r = normals(98, [3, 4, 4, 8]);
    const before = tf.memory().numTensors;
    const loss = (f: typeof styleEpilogue) => (x: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor4D, i.nw, i.noise, i.b, s, 'once'), r));
    const [gf, gc] = [tf.grads(loss(styleEpilogue))([x1, i.style]), tf.grads(loss(styleEpilogueChain))([x1, i.style])];
    expect(gf[0].shape).toEqual([1, 4, 4, 8]);
    for (let k = 0; k < 2; k++) expect((await compare(gf[k], gc[k])).rel).toBeLessThan(2e-5);
    tf.dispose([...gf, ...gc]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x1, r, ...Object.values(i)]);
  });
});

describe('webgpu Sum and Mean without a transpose', () => {
  const CASES: [string, number[], number[], boolean][] = [
    ['a bias gradient: NHWC over N, H, W', [8, 16, 16, 32], [0, 1, 2], false],
    ['instance statistics: over H, W, kept', [3, 5, 7, 6], [1, 2], true],
    ['a linear bias gradient: over the batch', [8, 96], [0], false],
    ['axes out of order, 4096+ values a sum (256 threads)', [9, 3, 40, 120], [3, 0, 2], false],
    ['one value a sum', [4, 1, 5], [1], false],
  ];
  for (const [name, shape, axes, keepDims] of CASES) {
    gpuIt(`the bits of tfjs's transpose-then-reduce: ${name}`, async () => {
      const x = normals(7, shape, 2, 0.5);
      const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
      const perm = [...kept, ...axes];
      const inner = axes.map((_, k) => kept.length + k);
      const outShape = keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : kept.map((i) => shape[i]);
      for (const [label, op] of [['AlaeSum', tf.sum], ['AlaeMean', tf.mean]] as const) {
        let ours = x;
        expect(dispatchesOf(() => (ours = op(x, axes, keepDims)))).toEqual({ [label]: 1 });
        const theirs = tf.tidy(() => tf.reshape(op(tf.transpose(x, perm), inner), outShape));
        expect(await compare(ours, theirs)).toEqual({ differ: 0, rel: 0 });
        tf.dispose([ours, theirs]);
      }
      x.dispose();
    });
  }
});

describe('webgpu parameter updates against the op chains', () => {
  it('splits the parameters into flat groups within the binding limit, in order', () => {
    expect(groupsOf([3, 4, 2, 9, 1, 1], 8)).toEqual([[0, 1], [2], [3], [4, 5]]);
    expect(groupsOf([8, 8], 8)).toEqual([[0], [1]]);
    expect(groupsOf([], 8)).toEqual([]);
  });

  const config = resolveConfig('test-micro');
  const bits = async (t: tf.Tensor): Promise<Uint32Array> => new Uint32Array(Float32Array.from(await t.data() as Float32Array).buffer);

  gpuIt('LREQAdam over all parameters in one kernel, gradients in 1 to 3 parts: the op chain\'s bits on the parts\' tf.add sum, step after step, parameters without a gradient untouched', async () => {
    const a = AlaeModel.create(config, 3), b = AlaeModel.create(config, 3);
    const nets = ['encoder', 'mapping_d', 'decoder', 'mapping_f'] as const;
    const opt = new LREQAdam(a, [...nets], { lr: 0.002 });
    const lr = 0.002, beta2 = 0.99, eps = 1e-8;
    const coef = new Map(a.specs.map((s) => [s.name, s.coef]));
    const v = new Map<string, tf.Tensor>([...b.vars].map(([k, p]) => [k, tf.zerosLike(p)]));
    const skipped = 'decoder.const';
    for (let step = 1; step <= 3; step++) {
      // Parts of mixed magnitudes (1e4 against 1): their sum's rounding depends on the order of the adds.
      const g = new Map<string, GradParts>([...a.vars].filter(([k]) => k !== skipped || step === 1).map(([k, p], i) =>
        [k, Array.from({ length: 1 + (i % 3) }, (_, part) =>
          tf.tensor(Float32Array.from(seededNormals(100 * step + 10 * i + part, p.size), (x, j) => (j % 7 === 0 ? 0 : (j + part) % 11 === 0 ? x * 1e4 : x)), p.shape))]));
      const before = tf.memory().numTensors;
      const dispatches = dispatchesOf(() => opt.step(a, g));
      // One dispatch, no adds (the first step also fills each parameter's new state with zeros).
      if (step > 1) expect(dispatches).toEqual({ [ADAM_UPDATE]: 1 });
      expect(tf.memory().numTensors).toBe(before + (step === 1 ? a.vars.size : 0));
      for (const [k, parts] of g) {
        const t = k === skipped ? 1 : step;
        const stepSize = lr * Math.sqrt(1 - beta2 ** t) * coef.get(k)!;
        const p = b.vars.get(k)!;
        const gk = tf.tidy(() => parts.slice(1).reduce((sum, part) => tf.add(sum, part), parts[0]));
        const nv = tf.tidy(() => tf.add(tf.mul(v.get(k)!, beta2), tf.mul(tf.square(gk), 1 - beta2)));
        v.get(k)!.dispose();
        v.set(k, nv);
        tf.tidy(() => p.assign(tf.sub(p, tf.mul(tf.div(gk, tf.add(tf.sqrt(nv), eps)), stepSize))));
        if (parts.length > 1) gk.dispose();
      }
      g.forEach(disposeParts);
    }
    for (const [k, p] of a.vars) {
      expect(await bits(p), k).toEqual(await bits(b.vars.get(k)!));
      expect(await bits(opt.state.get(k)!.expAvgSq), k).toEqual(await bits(v.get(k)!));
    }
    expect(opt.state.get(skipped)!.step).toBe(1);
    opt.dispose(); a.dispose(); b.dispose(); v.forEach((t) => t.dispose());
  });

  gpuIt('weight averaging over all parameters in one kernel: the op chain\'s bits, no tensor left', async () => {
    const a1 = AlaeModel.create(config, 5), a2 = AlaeModel.create(config, 5), t = AlaeModel.create(config, 6);
    const name = 'decoder.decode_block.1.conv_2.weight';
    const start = await bits(a1.vars.get(name)!);
    const before = tf.memory().numTensors;
    lerpAveraged(a1, t, 0.5 ** (32 / 10000));
    expect(tf.memory().numTensors).toBe(before);
    for (const [k, v] of a2.vars) tf.tidy(() => v.assign(tf.add(v, tf.mul(tf.sub(t.vars.get(k)!, v), 1 - 0.5 ** (32 / 10000)))));
    for (const [k, v] of a1.vars) expect(await bits(v), k).toEqual(await bits(a2.vars.get(k)!));
    expect(await bits(a1.vars.get(name)!)).not.toEqual(start);
    a1.dispose(); a2.dispose(); t.dispose();
  });

  gpuIt('averaging toward a tensor repeated along the leading axes (the tracked average w) in one kernel: the bits of the broadcast chain', async () => {
    const avg = tf.variable(normals(1, [6, 5]), false);
    const mean = normals(2, [5]);
    const want = tf.tidy(() => tf.add(avg, tf.mul(tf.sub(mean, avg), 1 - 0.995)));
    const before = tf.memory().numTensors;
    expect(dispatchesOf(() => lerpUpdate([{ avg, trained: mean }], 1 - 0.995, false))).toEqual({ [LERP_UPDATE]: 1 });
    expect(tf.memory().numTensors).toBe(before);
    expect(await bits(avg)).toEqual(await bits(want));
    const bad = normals(3, [6]);
    expect(() => lerpUpdate([{ avg, trained: bad }], 0.5, false)).toThrow(/trailing axes/);
    tf.dispose([avg, mean, want, bad]);
  });
});
