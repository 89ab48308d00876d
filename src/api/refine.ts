/**
 * Sharper reconstructions on request: refine w by gradient descent on the
 * reconstruction loss (api/refine-loss.ts), starting from E(x), the one-pass
 * answer, instead of from the average w as projectors into a GAN's latent
 * space do (StyleGAN2's projector, Image2StyleGAN: ~1,000 steps).
 *
 * Adam (beta1 0.9, beta2 0.999, eps 1e-8) on w [N, latent] ('w', one latent
 * per image, what E gives) or on w+ [N, slots, latent] ('w+', one per style
 * slot). The generator's noise is drawn once from `seed` (the maps
 * `Alae.decode` uses for that seed) and held fixed, so the same call gives
 * the same bytes, and the returned images are exactly `alae.decode(latents,
 * { seed })`: with `steps: 0` the one-pass reconstruction.
 *
 * Defaults: REFINE_DEFAULTS.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { AlaeError } from '../errors.js';
import type { RawImage } from '../image/image.js';
import { encoderInput, type FaceCrop } from '../face/faces.js';
import type { AlignMode } from '../face/align.js';
import type { NoiseMaps } from '../model/generator.js';
import { FaceIdentity } from '../face/identity.js';
import { defaultAlign, type Alae } from './alae.js';
import type { Latents, Styles } from './latents.js';
import { RefineObjective, type IdentityTerm, type RefineLossWeights } from './refine-loss.js';
import { yieldToLoop } from '../util/yield-to-loop.js';

/** 'w': one latent per image (E's space); 'w+': one per style slot. */
export type RefineSpace = 'w' | 'w+';
/** 'encoder': start at E(x); 'mean': at the tracked average w (the projectors' start, for comparison). */
export type RefineStart = 'encoder' | 'mean';

export interface RefineProgress {
  /** Updates done in the current batch (1..steps). */
  step: number;
  steps: number;
  /** Images of earlier batches, and of all batches. */
  done: number;
  total: number;
  /** Mean loss per image of the batch before this update. */
  loss: number;
  /** Image-steps done and in all: a progress bar's numbers. */
  imageSteps: number;
  totalImageSteps: number;
}

export interface RefineOptions {
  /** Adam updates (default REFINE_DEFAULTS.steps); 0 gives the one-pass (or average-w) result. */
  steps?: number;
  space?: RefineSpace;
  /** Adam's learning rate (default REFINE_DEFAULTS.lr). */
  lr?: number;
  /** Noise seed, as Alae.decode's (default 0). */
  seed?: number;
  /** Where to start (default 'encoder'). */
  from?: RefineStart;
  /** Loss weights (defaults REFINE_DEFAULTS.weights); identity > 0 needs a face model. */
  weights?: Partial<RefineLossWeights>;
  /** Images refined together (default the model's batch size); each image's result does not depend on it. */
  batchSize?: number;
  onProgress?: (p: RefineProgress) => void;
  /** Abort: the call rejects with the signal's reason and leaves no tensors behind. */
  signal?: AbortSignal;
  /** Step counts (0..steps) whose latents are also returned (`snapshots`): one run measures several budgets (no schedule: step k of a longer run is the k-step result). */
  snapshotAt?: readonly number[];
}

export interface RefineResult {
  /** w rows ('w') or styles ('w+'). */
  latents: Latents | Styles;
  /** G(latents) with the noise of `seed`, exactly as Alae.decode gives it. */
  images: RawImage[];
  /** The loss per image at the start and after the last update. */
  lossBefore: Float32Array;
  lossAfter: Float32Array;
  /** The latents after each of `snapshotAt`'s step counts, in its order. */
  snapshots: { steps: number; latents: Latents | Styles }[];
}

/**
 * Defaults, from a grid on held-out digits that README's table does not
 * use (bench/refine.mjs --tune; README, "Sharper reconstructions"):
 * - steps 100: the budget; most of the gain is in by then.
 * - space 'w': E's own space; w+ fits closer still but leaves the model's
 *   distribution (any image is one style per slot away).
 * - lr 0.2: the best of 0.1, 0.2, 0.3 at 10 steps, tied with 0.3 at 100.
 * - perceptual 10: the term is then a third of the pixel term at E(x); the
 *   largest weight tried whose pixel MSE stays within noise of none (30 and
 *   100 cost 3-8% and 30%). MNIST's measures are pixel measures, so it can
 *   only be kept from hurting there; its point is what pixels miss.
 * - identity 0: optional, for face models; untuned (no trained face model
 *   was at hand), and it is what face evaluation measures.
 */
export const REFINE_DEFAULTS = {
  steps: 100,
  space: 'w' as RefineSpace,
  lr: 0.2,
  weights: { pixel: 1, perceptual: 10, identity: 0 } as Readonly<RefineLossWeights>,
} as const;

const BETA1 = 0.9;
const BETA2 = 0.999;
const EPS = 1e-8;

const isCrop = (x: RawImage | FaceCrop): x is FaceCrop => 'image' in x && 'source' in x;

/** The inputs as the encoder takes them (encoderInput: a crop's exact `pixels` when it has them). */
function inputPixels(alae: Alae, images: readonly (RawImage | FaceCrop)[]): Float32Array {
  const res = alae.resolution;
  const crops = images.map((item, i): FaceCrop => (isCrop(item) ? item : { source: `image #${i}`, face: 0, image: item }));
  for (const { image: img, source } of crops) {
    if (img.width !== res || img.height !== res || img.channels !== alae.channels) {
      throw new AlaeError(`refinement needs ${res}x${res} images with ${alae.channels} channel(s), the model's (got ${img.width}x${img.height}x${img.channels})`, source);
    }
  }
  return encoderInput(crops, res, alae.channels);
}

/** What a refinement is run with: the options given, the defaults for the rest (checked). */
export function refineSettings(opts: Pick<RefineOptions, 'steps' | 'space' | 'lr' | 'from' | 'weights' | 'snapshotAt'>): {
  steps: number;
  space: RefineSpace;
  from: RefineStart;
  lr: number;
  weights: RefineLossWeights;
} {
  const steps = opts.steps ?? REFINE_DEFAULTS.steps;
  if (!Number.isSafeInteger(steps) || steps < 0) throw new AlaeError(`refinement steps must be a non-negative integer (got ${steps})`);
  const lr = opts.lr ?? REFINE_DEFAULTS.lr;
  if (!(lr > 0 && Number.isFinite(lr))) throw new AlaeError(`refinement lr must be a positive number (got ${lr})`);
  const space = opts.space ?? REFINE_DEFAULTS.space;
  if (space !== 'w' && space !== 'w+') throw new AlaeError(`refinement space must be 'w' or 'w+' (got '${String(space)}')`);
  const from = opts.from ?? 'encoder';
  if (from !== 'encoder' && from !== 'mean') throw new AlaeError(`refinement starts from 'encoder' or 'mean' (got '${String(from)}')`);
  for (const k of opts.snapshotAt ?? []) if (!Number.isSafeInteger(k) || k < 0 || k > steps) throw new AlaeError(`refinement snapshots are step counts 0..${steps} (got ${k})`);
  const weights = { ...REFINE_DEFAULTS.weights, ...opts.weights };
  for (const [k, v] of Object.entries(weights)) if (!(v >= 0 && Number.isFinite(v))) throw new AlaeError(`refinement weight '${k}' must be a non-negative number (got ${v})`);
  return { steps, space, from, lr, weights };
}

/** Where the face is in this model's crops (the identity term's and face evaluation's box), or null for a model of something else. */
export function identityAlign(alae: Alae): AlignMode | null {
  const align = alae.align !== 'none' ? alae.align : defaultAlign(alae.config);
  return align === 'none' ? null : align;
}

function options(alae: Alae, opts: RefineOptions) {
  const settings = refineSettings(opts);
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new AlaeError(`noise seeds must be non-negative integers (got ${seed})`);
  const batch = opts.batchSize ?? alae.batchSize;
  if (!Number.isSafeInteger(batch) || batch < 1) throw new AlaeError(`batch size must be a positive integer (got ${batch})`);
  const align = identityAlign(alae);
  if (settings.weights.identity > 0 && !align) throw new AlaeError('the identity loss needs a face model (RGB, FFHQ or CelebA crops)', alae.file);
  return { ...settings, seed, batch, align };
}

/** Let timers and messages (an abort) in between steps. */

/** Adam's state for the latents being refined. */
interface AdamState {
  w: Tensor;
  m: Tensor;
  v: Tensor;
}

/** Update t (from 1) of Adam with bias correction: new tensors, the old state is the caller's. */
function adamStep(s: AdamState, grad: Tensor, t: number, lr: number): AdamState {
  return tf.tidy(() => {
    const m = tf.add(tf.mul(s.m, BETA1), tf.mul(grad, 1 - BETA1));
    const v = tf.add(tf.mul(s.v, BETA2), tf.mul(tf.square(grad), 1 - BETA2));
    const mHat = tf.div(m, 1 - BETA1 ** t);
    const vHat = tf.div(v, 1 - BETA2 ** t);
    return { w: tf.sub(s.w, tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), EPS)), lr)), m, v };
  });
}

type Settings = ReturnType<typeof options>;

/**
 * Refine one batch x [m, ...] (images start .. start + m - 1 of `total`):
 * its latents rows and its losses, as arrays; the rows at `snapshotAt`'s
 * steps go into `snapshots` (step -> all images' rows). Disposes all it makes.
 */
async function refineBatch(
  alae: Alae,
  o: Settings,
  x: Tensor4D,
  noise: NoiseMaps,
  identity: IdentityTerm | null,
  where: { start: number; total: number },
  opts: RefineOptions,
  snapshots: Map<number, Float32Array>,
): Promise<{ latents: Float32Array; before: Float32Array; after: Float32Array }> {
  const model = alae.model;
  const m = x.shape[0];
  const size = alae.latentSize;
  const slots = alae.styleSlots;
  const objective = new RefineObjective(model, x, noise, o.weights, identity);
  let state: AdamState | null = null;
  try {
    const w0 = tf.tidy(() => {
      const w = o.from === 'encoder' ? objective.encoded : tf.broadcastTo(tf.mean(model.dlatentAvg, 0, true), [m, size]);
      return o.space === 'w' ? tf.clone(w) : tf.tile(tf.reshape(w, [m, 1, size]), [1, slots, 1]);
    });
    state = { w: w0, m: tf.zerosLike(w0), v: tf.zerosLike(w0) };
    snapshots.get(0)?.set((await w0.data()) as Float32Array, (where.start * w0.size) / m);
    const loss = (w: Tensor): Tensor => objective.perImage(w);
    let before: Float32Array | null = null;
    for (let t = 1; t <= o.steps; t++) {
      opts.signal?.throwIfAborted();
      const s: AdamState = state;
      const { value, grad } = tf.valueAndGrad(loss)(s.w);
      try {
        state = adamStep(s, grad, t, o.lr);
        tf.dispose([s.w, s.m, s.v]);
        snapshots.get(t)?.set((await state.w.data()) as Float32Array, (where.start * state.w.size) / m);
        const values = (await value.data()) as Float32Array;
        before ??= values;
        const mean = values.reduce((a, b) => a + b, 0) / m;
        const { start, total } = where;
        opts.onProgress?.({ step: t, steps: o.steps, done: start, total, loss: mean, imageSteps: start * o.steps + t * m, totalImageSteps: total * o.steps });
      } finally {
        tf.dispose([value, grad]);
      }
      await yieldToLoop();
    }
    opts.signal?.throwIfAborted();
    const final = tf.tidy(() => loss(state!.w));
    let after: Float32Array;
    try {
      after = (await final.data()) as Float32Array;
    } finally {
      final.dispose();
    }
    return { latents: (await state.w.data()) as Float32Array, before: before ?? after, after };
  } finally {
    objective.dispose();
    if (state) tf.dispose([state.w, state.m, state.v]);
  }
}

/**
 * Refine the latents of model-ready images (crops at the model's resolution
 * and channels: `FaceCrop`s from `alae.encode`/`reconstruct`, or raw
 * images) and decode them. Leaves tf.memory().numTensors as it found it,
 * also when aborted or failing.
 */
export async function refine(alae: Alae, images: readonly (RawImage | FaceCrop)[], opts: RefineOptions = {}): Promise<RefineResult> {
  const o = options(alae, opts);
  opts.signal?.throwIfAborted();
  const res = alae.resolution;
  const per = res * res * alae.channels;
  const n = images.length;
  const pixels = inputPixels(alae, images);
  const rowSize = o.space === 'w' ? alae.latentSize : alae.styleSlots * alae.latentSize;
  const out = new Float32Array(n * rowSize);
  const lossBefore = new Float32Array(n);
  const lossAfter = new Float32Array(n);
  const snapshots = new Map((opts.snapshotAt ?? []).map((k) => [k, new Float32Array(n * rowSize)]));

  const noise = alae.model.makeNoise(1, alae.model.maxLod, o.seed);
  let identity: IdentityTerm | null = null;
  try {
    if (o.weights.identity > 0 && o.align) identity = { net: FaceIdentity.load(), align: o.align };
    for (let start = 0; start < n; start += o.batch) {
      const m = Math.min(o.batch, n - start);
      const x = tf.tensor4d(pixels.subarray(start * per, (start + m) * per), [m, res, res, alae.channels]);
      try {
        const r = await refineBatch(alae, o, x, noise, identity, { start, total: n }, opts, snapshots);
        out.set(r.latents, start * rowSize);
        lossBefore.set(r.before, start);
        lossAfter.set(r.after, start);
      } finally {
        x.dispose();
      }
    }
  } finally {
    tf.dispose(noise);
    identity?.net.dispose();
  }

  const rows = (data: Float32Array): Latents | Styles =>
    o.space === 'w' ? { kind: 'w', count: n, size: alae.latentSize, data } : { kind: 'styles', count: n, slots: alae.styleSlots, size: alae.latentSize, data };
  const latents = rows(out);
  const decoded = n > 0 ? await alae.decode(latents, { seed: o.seed, batchSize: o.batch }) : [];
  return { latents, images: decoded, lossBefore, lossAfter, snapshots: (opts.snapshotAt ?? []).map((k) => ({ steps: k, latents: rows(snapshots.get(k)!) })) };
}
