/**
 * The library API: `loadModel(file)` gives an `Alae`, whose calls take
 * images (paths, encoded bytes, raw pixels) and latents as plain arrays and
 * give back the same; tensors stay inside. Every call leaves
 * tf.memory().numTensors as it found it (the model and, when alignment is
 * on, the face detector are held until dispose()).
 *
 * Batch calls go on past a bad input: each failure is reported (the input's
 * name and an AlaeError) and the rest are processed, unless `throwOnError`.
 */
import { tf } from '../tf.js';
import { AlaeError } from '../errors.js';
import { type AlaeConfig, resolveConfig, resolutionOf, styleCount } from '../config/config.js';
import { AlaeModel } from '../model/alae.js';
import { chooseWeights, openWeights } from '../io/open.js';
import { loadNpy } from '../io/npy.js';
import { ensureBackend, useBackend, type BackendName, type BackendRequest } from '../backend/backend.js';
import { Rng } from '../util/random.js';
import { floatToImages, inputName, type ImageInput, type RawImage } from '../image/image.js';
import { FaceDetector, type DetectOptions } from '../face/detect.js';
import { encoderInput, extractFaces, type AlignChoice, type FaceCrop, type FaceSelection } from '../face/faces.js';
import {
  asStyles,
  concatLatents,
  editLatents,
  interpolateLatents,
  mixStyles,
  type LevelSpec,
  type Latents,
  type Styles,
} from './latents.js';
import { yieldToLoop } from '../util/yield-to-loop.js';

export interface JobProgress {
  /** What is being counted: input images (faces, encode, reconstruct) or output images (decode, generate). */
  stage: 'encode' | 'reconstruct' | 'decode' | 'generate';
  done: number;
  total: number;
  /** The input just finished, when counting inputs. */
  source?: string;
}
export type JobProgressFn = (p: JobProgress) => void;

/** An input that could not be used, and why. */
export interface Failure {
  source: string;
  error: AlaeError;
}

export interface Truncation {
  /** Pull toward the average w: 1 = none, 0 = all the way. */
  psi: number;
  /** Only style slots below this are truncated (default: the model's, 8). */
  cutoff?: number;
}

export interface LoadModelOptions {
  /** Backend to run on; default: the active one, else ALAE_BACKEND or auto. */
  backend?: BackendRequest;
  /** The preset the file's architecture must be (a reference .pth is read as it; default: inferred). */
  preset?: string;
  /**
   * For checkpoints (ours or a reference .pth): the averaged networks (the
   * default, what the reference infers with; a .pth without them gives its
   * trained ones) or the trained ones. One a .pth lacks is an AlaeError.
   */
  weights?: 'averaged' | 'trained';
  /** Face alignment for image inputs (default: by the model's preset, see `defaultAlign`). */
  align?: AlignChoice;
  /** Every face of a photo (default) or only the largest. */
  faces?: FaceSelection;
  /** Images per forward pass (default 8). */
  batchSize?: number;
  detect?: DetectOptions;
}

export interface ImageJobOptions {
  align?: AlignChoice;
  faces?: FaceSelection;
  batchSize?: number;
  onProgress?: JobProgressFn;
  /** Throw the first failure instead of reporting it and going on. */
  throwOnError?: boolean;
  /** Called at once for each input that fails (it is also listed in the results). */
  onFailure?: (f: Failure) => void;
}

export interface ImageDecodeOptions {
  /**
   * Noise seed. One number: every row gets the same noise maps (so a row
   * decodes the same alone or in any batch, and interpolation strips do
   * not flicker). An array: one seed per row. Default 0.
   */
  seed?: number | readonly number[];
  /** false: no per-pixel noise at all (the reference decoder's noise=False). Default true. */
  noise?: boolean;
  /** Truncation toward the average w (default: none). */
  truncation?: Truncation;
  batchSize?: number;
  onProgress?: JobProgressFn;
}

export interface GenerateOptions {
  /** Default: the model's (psi 0.7, cutoff 8), as the reference's Model.generate; false for none. */
  truncation?: Truncation | false;
  batchSize?: number;
  onProgress?: JobProgressFn;
}

/** A batch of encoded faces: row i of `latents` is `faces[i]`. */
export interface EncodedBatch {
  latents: Latents;
  faces: FaceCrop[];
  /** Inputs that failed since the previous batch. */
  failures: Failure[];
}

export interface EncodeResult {
  latents: Latents;
  faces: FaceCrop[];
  failures: Failure[];
}

export interface Reconstruction extends FaceCrop {
  /** G(E(crop)) at the model's resolution. */
  reconstruction: RawImage;
}

export interface ReconstructBatch {
  latents: Latents;
  faces: Reconstruction[];
  failures: Failure[];
}

export interface ReconstructResult {
  latents: Latents;
  faces: Reconstruction[];
  failures: Failure[];
}

/** Random-stream id for z from a seed (the model uses 7 for init, 11 for noise). */
const Z_STREAM = 5;

/** z ~ N(0, I) for a seed: the same on every backend and platform. */
export function zFromSeed(seed: number, size: number): Float32Array {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new AlaeError(`seeds must be non-negative integers (got ${seed})`);
  return new Rng(seed, Z_STREAM).normals(size);
}

/**
 * The alignment a preset's training data had: CelebA 128 the tight CelebA
 * crop, grayscale (MNIST) and non-face (bedroom) presets none, everything
 * else (FFHQ, CelebA-HQ, test presets, imported models) FFHQ.
 */
export function defaultAlign(config: AlaeConfig): AlignChoice {
  if (config.model.channels !== 3 || config.name === 'mnist' || config.name === 'bedroom') return 'none';
  if (config.name === 'celeba') return 'celeba';
  return 'ffhq';
}

function asAlaeError(e: unknown, source: string): AlaeError {
  if (e instanceof AlaeError) return e.file ? e : new AlaeError(e.message, source);
  return new AlaeError(e instanceof Error ? e.message.split('\n')[0] : String(e), source);
}

function checkBatchSize(n: number | undefined, fallback: number): number {
  const b = n ?? fallback;
  if (!Number.isInteger(b) || b < 1) throw new AlaeError(`batch size must be a positive integer (got ${b})`);
  return b;
}

/**
 * Load a model: our .safetensors model file, a training checkpoint, or a
 * reference ALAE checkpoint (.pth, zip or legacy), told apart by content.
 * From a checkpoint, its averaged networks by default (a reference .pth
 * without them: its trained ones), with the tracked w average.
 */
export async function loadModel(file: string, opts: LoadModelOptions = {}): Promise<Alae> {
  const backend = opts.backend ? await useBackend(opts.backend) : await ensureBackend();
  const weights = await openWeights(file, { preset: opts.preset });
  const model = AlaeModel.fromArrays(weights.config, chooseWeights(weights, opts.weights).arrays, file);
  try {
    return new Alae(model, file, backend, opts);
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * A randomly initialised model of a preset or config (as the reference
 * initialises one; seeded): for tests, demos and timing, not for faces.
 */
export async function createModel(preset: string | AlaeConfig, opts: LoadModelOptions & { seed?: number } = {}): Promise<Alae> {
  const backend = opts.backend ? await useBackend(opts.backend) : await ensureBackend();
  const model = AlaeModel.create(typeof preset === 'string' ? resolveConfig(preset) : preset, opts.seed ?? 0);
  try {
    return new Alae(model, `random ${model.config.name}`, backend, opts);
  } catch (e) {
    model.dispose();
    throw e;
  }
}

export class Alae {
  /** The underlying model (tensors; for advanced use). */
  readonly model: AlaeModel;
  readonly config: AlaeConfig;
  /** The file it was loaded from. */
  readonly file: string;
  readonly backend: BackendName;
  readonly align: AlignChoice;
  readonly faces: FaceSelection;
  readonly batchSize: number;
  private readonly detectOptions: DetectOptions;
  private detector: FaceDetector | null = null;
  private disposed = false;

  constructor(model: AlaeModel, file: string, backend: BackendName, opts: LoadModelOptions = {}) {
    this.model = model;
    this.config = model.config;
    this.file = file;
    this.backend = backend;
    this.align = opts.align ?? defaultAlign(model.config);
    if (!['ffhq', 'celeba', 'none'].includes(this.align)) throw new AlaeError(`align must be ffhq, celeba or none (got '${this.align}')`);
    this.faces = opts.faces ?? 'all';
    this.batchSize = checkBatchSize(opts.batchSize, 8);
    this.detectOptions = opts.detect ?? {};
    // Loaded up front so a call never leaves new tensors behind.
    if (this.align !== 'none') this.detector = FaceDetector.load();
  }

  get resolution(): number {
    return resolutionOf(this.config.model);
  }
  get channels(): number {
    return this.config.model.channels;
  }
  get latentSize(): number {
    return this.config.model.latentSize;
  }
  get styleSlots(): number {
    return styleCount(this.config.model);
  }

  private live(): void {
    if (this.disposed) throw new AlaeError('this model has been disposed');
  }

  private faceDetector(align: AlignChoice): FaceDetector | null {
    if (align === 'none') return null;
    // Alignment asked for per call on a model loaded without it: loaded now, kept until dispose().
    this.detector ??= FaceDetector.load();
    return this.detector;
  }

  private static list(images: ImageInput | readonly ImageInput[]): readonly ImageInput[] {
    return Array.isArray(images) ? (images as readonly ImageInput[]) : [images as ImageInput];
  }

  /** w for a batch of crops (one forward pass). */
  private async encodeCrops(crops: readonly FaceCrop[]): Promise<Latents> {
    const res = this.resolution;
    const x = encoderInput(crops, res, this.channels);
    const w = tf.tidy(() => this.model.encode(tf.tensor4d(x, [crops.length, res, res, this.channels])));
    try {
      return { kind: 'w', count: crops.length, size: this.latentSize, data: (await w.data()) as Float32Array };
    } finally {
      w.dispose();
    }
  }

  /**
   * Faces of many inputs, encoded in batches as they fill: memory stays
   * bounded however many inputs there are. Failures come with the batch
   * after which they happened (a last batch may hold only failures).
   */
  async *encodeBatches(images: ImageInput | readonly ImageInput[], opts: ImageJobOptions = {}): AsyncGenerator<EncodedBatch> {
    this.live();
    const list = Alae.list(images);
    const align = opts.align ?? this.align;
    const faces = opts.faces ?? this.faces;
    const batch = checkBatchSize(opts.batchSize, this.batchSize);
    const detector = this.faceDetector(align);
    let pending: FaceCrop[] = [];
    let failures: Failure[] = [];
    for (let i = 0; i < list.length; i++) {
      const name = inputName(list[i], i);
      try {
        pending.push(...(await extractFaces(list[i], detector, { size: this.resolution, channels: this.channels, align, faces, detect: this.detectOptions }, name)));
      } catch (e) {
        const err = asAlaeError(e, name);
        if (opts.throwOnError) throw err;
        failures.push({ source: name, error: err });
        opts.onFailure?.({ source: name, error: err });
      }
      while (pending.length >= batch) {
        const crops = pending.slice(0, batch);
        pending = pending.slice(batch);
        const latents = await this.encodeCrops(crops);
        await yieldToLoop();
        yield { latents, faces: crops, failures };
        failures = [];
      }
      opts.onProgress?.({ stage: 'encode', done: i + 1, total: list.length, source: name });
    }
    if (pending.length > 0) yield { latents: await this.encodeCrops(pending), faces: pending, failures };
    else if (failures.length > 0) yield { latents: { kind: 'w', count: 0, size: this.latentSize, data: new Float32Array(0) }, faces: [], failures };
  }

  /** w of every face in the inputs (see encodeBatches for large sets). */
  async encode(images: ImageInput | readonly ImageInput[], opts: ImageJobOptions = {}): Promise<EncodeResult> {
    const parts: Latents[] = [];
    const faces: FaceCrop[] = [];
    const failures: Failure[] = [];
    for await (const b of this.encodeBatches(images, opts)) {
      if (b.latents.count > 0) parts.push(b.latents);
      faces.push(...b.faces);
      failures.push(...b.failures);
    }
    const latents = parts.length ? concatLatents(parts) : { kind: 'w' as const, count: 0, size: this.latentSize, data: new Float32Array(0) };
    return { latents, faces, failures };
  }

  /** Noise maps (batch `rows`) for one chunk: one shared seed, a seed per row, or none (zeros). */
  private noiseFor(rows: number, seeds: number | readonly number[] | null): tf.Tensor4D[] {
    const lod = this.model.maxLod;
    if (seeds === null) {
      return this.model.makeNoise(1, lod, 0).map((t) => {
        const z = tf.zerosLike(t);
        t.dispose();
        return z;
      });
    }
    if (typeof seeds === 'number') return this.model.makeNoise(1, lod, seeds);
    const per = seeds.map((s) => this.model.makeNoise(1, lod, s));
    try {
      return per[0].map((_, k) => (rows === 1 ? tf.clone(per[0][k]) : tf.concat(per.map((maps) => maps[k]), 0)));
    } finally {
      per.flat().forEach((t) => t.dispose());
    }
  }

  /** Images for styles rows [start, start + n). */
  private async decodeChunk(styles: Styles, start: number, n: number, seeds: number | readonly number[] | null, truncation?: Truncation): Promise<RawImage[]> {
    const per = styles.slots * styles.size;
    const rows = styles.data.subarray(start * per, (start + n) * per);
    const noise = this.noiseFor(n, seeds === null || typeof seeds === 'number' ? seeds : seeds.slice(start, start + n));
    let out: tf.Tensor4D | undefined;
    try {
      out = tf.tidy(() => {
        let s: tf.Tensor = tf.tensor3d(rows, [n, styles.slots, styles.size]);
        if (truncation) s = this.model.truncate(s, truncation.psi, truncation.cutoff ?? this.config.model.truncationCutoff);
        return this.model.decode(s, { noise });
      });
      const data = (await out.data()) as Float32Array;
      return floatToImages(data, n, this.resolution, this.channels);
    } finally {
      out?.dispose();
      noise.forEach((t) => t.dispose());
    }
  }

  /** Images from w rows or styles (uint8, the model's resolution and channels). */
  async decode(x: Latents | Styles, opts: ImageDecodeOptions = {}): Promise<RawImage[]> {
    this.live();
    const styles = asStyles(x, this.styleSlots);
    if (styles.size !== this.latentSize) throw new AlaeError(`latents have size ${styles.size}, the model's is ${this.latentSize}`);
    const seeds = opts.seed ?? 0;
    if (typeof seeds !== 'number' && seeds.length !== styles.count) throw new AlaeError(`${seeds.length} seeds for ${styles.count} rows`);
    for (const s of typeof seeds === 'number' ? [seeds] : seeds) if (!Number.isSafeInteger(s) || s < 0) throw new AlaeError(`noise seeds must be non-negative integers (got ${s})`);
    if (opts.truncation) checkTruncation(opts.truncation);
    const batch = checkBatchSize(opts.batchSize, this.batchSize);
    const out: RawImage[] = [];
    for (let i = 0; i < styles.count; i += batch) {
      const n = Math.min(batch, styles.count - i);
      out.push(...(await this.decodeChunk(styles, i, n, opts.noise === false ? null : seeds, opts.truncation)));
      opts.onProgress?.({ stage: 'decode', done: i + n, total: styles.count });
      await yieldToLoop();
    }
    return out;
  }

  /** Encode then decode, batch by batch (memory bounded); each face with its crop and reconstruction. */
  async *reconstructBatches(images: ImageInput | readonly ImageInput[], opts: ImageJobOptions & { seed?: number } = {}): AsyncGenerator<ReconstructBatch> {
    const list = Alae.list(images);
    const progress = opts.onProgress;
    for await (const b of this.encodeBatches(list, { ...opts, onProgress: progress && ((p) => progress({ ...p, stage: 'reconstruct' })) })) {
      const recs = b.latents.count > 0 ? await this.decode(b.latents, { seed: opts.seed ?? 0, batchSize: opts.batchSize }) : [];
      yield { latents: b.latents, faces: b.faces.map((f, i) => ({ ...f, reconstruction: recs[i] })), failures: b.failures };
    }
  }

  /** Reconstructions of every face in the inputs. */
  async reconstruct(images: ImageInput | readonly ImageInput[], opts: ImageJobOptions & { seed?: number } = {}): Promise<ReconstructResult> {
    const parts: Latents[] = [];
    const faces: Reconstruction[] = [];
    const failures: Failure[] = [];
    for await (const b of this.reconstructBatches(images, opts)) {
      if (b.latents.count) parts.push(b.latents);
      faces.push(...b.faces);
      failures.push(...b.failures);
    }
    const latents = parts.length ? concatLatents(parts) : { kind: 'w' as const, count: 0, size: this.latentSize, data: new Float32Array(0) };
    return { latents, faces, failures };
  }

  /** The target's styles with the source's in `level`'s slots (a named level, see levelRanges, or [from, to)). */
  mixStyles(target: Latents | Styles, source: Latents | Styles, level: LevelSpec): Styles {
    this.live();
    return mixStyles(target, source, level, this.styleSlots);
  }

  /** w = F(z) for z drawn from each seed. */
  async mapSeeds(seeds: readonly number[], opts: { batchSize?: number } = {}): Promise<Latents> {
    this.live();
    const size = this.latentSize;
    const batch = checkBatchSize(opts.batchSize, this.batchSize);
    const data = new Float32Array(seeds.length * size);
    for (let i = 0; i < seeds.length; i += batch) {
      const chunk = seeds.slice(i, i + batch);
      const z = new Float32Array(chunk.length * size);
      chunk.forEach((s, k) => z.set(zFromSeed(s, size), k * size));
      const w = tf.tidy(() => this.model.map(tf.tensor2d(z, [chunk.length, size])));
      try {
        data.set((await w.data()) as Float32Array, i * size);
      } finally {
        w.dispose();
      }
    }
    return { kind: 'w', count: seeds.length, size, data };
  }

  /**
   * Images from seeds: z from the seed, w = F(z), truncated (the model's
   * psi and cutoff unless told), decoded with noise from the same seed: an
   * image depends only on its seed, not on the batch it is made in.
   */
  async generate(seeds: readonly number[], opts: GenerateOptions = {}): Promise<RawImage[]> {
    const w = await this.mapSeeds(seeds, opts);
    const m = this.config.model;
    const truncation = opts.truncation === false ? undefined : (opts.truncation ?? { psi: m.truncationPsi, cutoff: m.truncationCutoff });
    const progress = opts.onProgress;
    return this.decode(w, { seed: seeds, truncation, batchSize: opts.batchSize, onProgress: progress && ((p) => progress({ ...p, stage: 'generate' })) });
  }

  /** `steps` w on the straight line from a to b (one row each), endpoints included. */
  interpolate(a: Latents, b: Latents, steps: number): Latents {
    this.live();
    return interpolateLatents(a, b, steps);
  }

  /** w + amount * direction for every row. */
  edit(w: Latents, direction: Float32Array, amount: number): Latents {
    this.live();
    return editLatents(w, direction, amount);
  }

  /** Release the model's and the face detector's tensors. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
    this.detector?.dispose();
    this.detector = null;
  }
}

function checkTruncation(t: Truncation): void {
  if (!(t.psi >= 0 && t.psi <= 1)) throw new AlaeError(`truncation psi must be in [0, 1] (got ${t.psi})`);
  if (t.cutoff !== undefined && !(Number.isInteger(t.cutoff) && t.cutoff >= 0)) throw new AlaeError(`truncation cutoff must be a non-negative integer (got ${t.cutoff})`);
}

/** A w-space direction from a .npy file: shape [size] or [1, size] (the reference's principal_directions). */
export async function loadDirection(file: string, size: number): Promise<Float32Array> {
  const npy = await loadNpy(file);
  const n = npy.shape.reduce((a, b) => a * b, 1);
  const okShape = (npy.shape.length === 1 && npy.shape[0] === size) || (npy.shape.length === 2 && npy.shape[0] === 1 && npy.shape[1] === size);
  if (!okShape) throw new AlaeError(`a direction must have shape [${size}] or [1, ${size}] for this model (found [${npy.shape.join(', ')}], ${n} values)`, file);
  if (npy.data.some((v) => !Number.isFinite(v))) throw new AlaeError('the direction holds NaN or infinite values', file);
  return npy.data;
}

