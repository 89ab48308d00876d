/**
 * How much of a face a face model's reconstructions keep, on a folder of
 * faces (e.g. ../shared/faces/ffhq-aligned256), one-pass and refined:
 *   - mse: mean over pixels and faces of (reconstruction - input)^2, images
 *     in [-1, 1], the reconstruction as Alae.decode gives it (uint8, noise
 *     from `seed`) read back;
 *   - identity: mean over faces of the cosine similarity of face-api's face
 *     descriptors (face/identity.ts) of the input crop and of its
 *     reconstruction (1: the recognition net sees the same person).
 * Crops are made as the model's jobs make them (alignment per the Alae's
 * setting; 'none' for crops that are aligned already).
 *
 * Every call leaves tf.memory().numTensors as it found it.
 */
import { tf } from '../tf.js';
import { AlaeError } from '../errors.js';
import type { Alae } from '../api/alae.js';
import { refine, identityAlign, refineSettings } from '../api/refine.js';
import { imagesToFloat, listImages, type ImageInput, type RawImage } from '../image/image.js';
import { FaceIdentity, rowCosine } from '../face/identity.js';
import { encoderInput } from '../face/faces.js';
import type { AlignMode } from '../face/align.js';
import type { EvalRefineOptions } from './mnist.js';

export type FaceEvalStage = 'encode' | 'reconstruct' | 'refine' | 'identity';

export interface FaceEvalProgress {
  stage: FaceEvalStage;
  done: number;
  total: number;
}

export interface FaceEvalOptions {
  /** Noise seed of the reconstructions (default 0). */
  seed?: number;
  /** Images per forward pass (default: the model's). */
  batchSize?: number;
  /** Only the first `limit` inputs (default: all). */
  limit?: number;
  /** Also measure refined reconstructions (default: not). */
  refine?: Omit<EvalRefineOptions, 'snapshotAt'>;
  onProgress?: (p: FaceEvalProgress) => void;
}

export interface FaceMeasures {
  mse: number;
  identity: number;
}

export interface FaceEvalRow {
  source: string;
  face: number;
  onePass: FaceMeasures;
  refined: FaceMeasures | null;
}

export interface FaceEvalReport {
  model: string;
  config: string;
  backend: string;
  /** Faces measured, and inputs that gave none (with why). */
  faces: number;
  failures: { source: string; message: string }[];
  seed: number;
  onePass: FaceMeasures;
  refined: (FaceMeasures & { steps: number; space: 'w' | 'w+'; from: 'encoder' | 'mean'; lr: number; secondsPerImage: number }) | null;
  rows: FaceEvalRow[];
  seconds: number;
}

/** Per face: squared error mean, and the descriptor cosine against the inputs' descriptors. */
async function measure(
  net: FaceIdentity,
  align: AlignMode,
  inputs: Float32Array,
  inputDesc: Float32Array,
  recon: readonly RawImage[],
  res: number,
  batch: number,
  report: (done: number) => void,
): Promise<FaceMeasures[]> {
  const per = res * res * 3;
  const y = imagesToFloat(recon, res, 3);
  const out: FaceMeasures[] = [];
  for (let start = 0; start < recon.length; start += batch) {
    const m = Math.min(batch, recon.length - start);
    const cos = tf.tidy(() => {
      const d = net.descriptors(tf.tensor4d(y.subarray(start * per, (start + m) * per), [m, res, res, 3]), align);
      return rowCosine(d, tf.tensor2d(inputDesc.subarray(start * 128, (start + m) * 128), [m, 128]));
    });
    const c = (await cos.data()) as Float32Array;
    cos.dispose();
    for (let i = 0; i < m; i++) {
      let se = 0;
      for (let k = (start + i) * per; k < (start + i + 1) * per; k++) se += (y[k] - inputs[k]) ** 2;
      out.push({ mse: se / per, identity: c[i] });
    }
    report(start + m);
  }
  return out;
}

/** Face descriptors [n, 128] of crops, in batches. */
async function descriptorsOf(net: FaceIdentity, align: AlignMode, x: Float32Array, n: number, res: number, batch: number): Promise<Float32Array> {
  const per = res * res * 3;
  const out = new Float32Array(n * 128);
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const d = tf.tidy(() => net.descriptors(tf.tensor4d(x.subarray(start * per, (start + m) * per), [m, res, res, 3]), align));
    out.set((await d.data()) as Float32Array, start * 128);
    d.dispose();
  }
  return out;
}

const average = (rows: readonly FaceMeasures[]): FaceMeasures => ({
  mse: rows.reduce((s, r) => s + r.mse, 0) / rows.length,
  identity: rows.reduce((s, r) => s + r.identity, 0) / rows.length,
});

/**
 * Measure a face model's reconstructions on `data`: a folder (its images),
 * or a list of images (see the module doc).
 */
export async function evaluateFaces(alae: Alae, data: string | readonly ImageInput[], opts: FaceEvalOptions = {}): Promise<FaceEvalReport> {
  const align = identityAlign(alae);
  if (!align) throw new AlaeError('face evaluation needs a face model (RGB, FFHQ or CelebA crops)', alae.file);
  const t0 = performance.now();
  const seed = opts.seed ?? 0;
  const batch = opts.batchSize ?? alae.batchSize;
  const progress = opts.onProgress;
  const all = typeof data === 'string' ? await listImages([data]) : data;
  const inputs = opts.limit === undefined ? all : all.slice(0, opts.limit);
  if (inputs.length === 0) throw new AlaeError('no images to evaluate', typeof data === 'string' ? data : undefined);

  const enc = await alae.encode(inputs, { batchSize: batch, onProgress: (p) => progress?.({ stage: 'encode', done: p.done, total: p.total }) });
  const faces = enc.faces;
  const n = faces.length;
  const failures = enc.failures.map((f) => ({ source: f.source, message: f.error.message }));
  if (n === 0) throw new AlaeError(`no face in ${inputs.length} input(s)${failures.length ? `: ${failures[0].message}` : ''}`);

  const res = alae.resolution;
  const x = encoderInput(faces, res, 3);

  const onePassImages = await alae.decode(enc.latents, { seed, batchSize: batch, onProgress: (p) => progress?.({ stage: 'reconstruct', done: p.done, total: p.total }) });
  const settings = opts.refine ? refineSettings(opts.refine) : null;
  let refinedImages: RawImage[] | null = null;
  let refineSeconds = 0;
  if (settings) {
    const r0 = performance.now();
    const r = await refine(alae, faces, { ...settings, seed, batchSize: batch, onProgress: (p) => progress?.({ stage: 'refine', done: p.imageSteps, total: p.totalImageSteps }) });
    refineSeconds = (performance.now() - r0) / 1000;
    refinedImages = r.images;
  }

  const net = FaceIdentity.load();
  let onePass: FaceMeasures[];
  let refined: FaceMeasures[] | null = null;
  try {
    const total = n * (refinedImages ? 2 : 1);
    const inputDesc = await descriptorsOf(net, align, x, n, res, batch);
    onePass = await measure(net, align, x, inputDesc, onePassImages, res, batch, (d) => progress?.({ stage: 'identity', done: d, total }));
    if (refinedImages) refined = await measure(net, align, x, inputDesc, refinedImages, res, batch, (d) => progress?.({ stage: 'identity', done: n + d, total }));
  } finally {
    net.dispose();
  }

  return {
    model: alae.file,
    config: alae.config.name,
    backend: alae.backend,
    faces: n,
    failures,
    seed,
    onePass: average(onePass),
    refined: settings && refined ? { ...average(refined), steps: settings.steps, space: settings.space, from: settings.from, lr: settings.lr, secondsPerImage: refineSeconds / n } : null,
    rows: faces.map((f, i) => ({ source: f.source, face: f.face, onePass: onePass[i], refined: refined ? refined[i] : null })),
    seconds: (performance.now() - t0) / 1000,
  };
}
