/**
 * `alae eval --data mnist`: how well a 1-channel 32x32 model encodes and
 * reconstructs the held-out MNIST digits (`mnistSplit('test')`, which
 * training never reads), measured against the train split.
 *
 * Pixel space is the image as the model sees it: 32x32 floats in [-1, 1]
 * (x / 127.5 - 1). The measures:
 *   - reconstructionMse: mean over pixels and digits of (G(E(x)) - x)^2.
 *     G(E(x)) is what `Alae.decode` gives a user (uint8, noise from `seed`),
 *     read back into [-1, 1].
 *   - reconstructionLabelKept: the share of reconstructions that a 1-nearest-
 *     neighbour pixel classifier over the train split labels as the input's
 *     digit. pixel1nnOnInputs is the same classifier on the inputs
 *     themselves: the ceiling of the first (a perfect reconstruction scores
 *     exactly it).
 *   - wKnnAccuracy: held-out w classified by a 5-NN majority vote over the
 *     train split's w (a tie between digits goes to the one with the nearer
 *     neighbour).
 *   - generated: `generatedCount` samples from seeds seed, seed + 1, ...,
 *     untruncated unless `truncation` is given (the sanity check is about
 *     the model's own distribution; the default psi 0.7 would flatter it).
 *     A sample is *confident* when at least 4 of its 5 nearest train digits
 *     in pixel space (the nearest included) show the nearest one's digit:
 *     it looks like one digit, not a blend or a scribble. labelHistogram
 *     counts the nearest train digit's label of every sample (0..9), to see
 *     whether generation covers all ten.
 *   - refined (with the `refine` option): the same two reconstruction
 *     measures for refined reconstructions (api/refine.ts, noise from
 *     `seed`) of the same held-out digits, and the seconds per image.
 *
 * Every call leaves tf.memory().numTensors as it found it.
 */
import { tf } from '../tf.js';
import { AlaeError } from '../errors.js';
import type { Alae, Truncation } from '../api/alae.js';
import { refine, refineSettings, type RefineOptions } from '../api/refine.js';
import { imagesToFloat, type RawImage } from '../image/image.js';
import { MNIST_RESOLUTION, MnistDataset, mnistSplit } from '../data/mnist.js';
import { nearestNeighbours } from './knn.js';
import { yieldToLoop } from '../util/yield-to-loop.js';

/** Neighbours of the w classifier and of the generated-sample check. */
export const EVAL_K = 5;
/** Of the EVAL_K nearest train digits, how many must share the nearest's label for a generated sample to count as confident. */
export const CONFIDENT_VOTES = 4;
/** The targets for the bundled model. */
export const MNIST_TARGETS = { reconstructionLabelKept: 0.9, wKnnAccuracy: 0.95 } as const;

export type EvalStage = 'encode-train' | 'encode-held-out' | 'reconstruct' | 'refine' | 'generate' | 'pixel-knn' | 'w-knn';

/** What to refine with (api/refine.ts); the noise seed and batch size are the evaluation's. */
export type EvalRefineOptions = Pick<RefineOptions, 'steps' | 'space' | 'lr' | 'from' | 'weights' | 'snapshotAt'>;

/** Refined reconstructions of the held-out digits, measured as the one-pass ones. */
export interface RefinedReport {
  steps: number;
  space: 'w' | 'w+';
  from: 'encoder' | 'mean';
  lr: number;
  reconstructionMse: number;
  reconstructionLabelKept: number;
  /** Wall-clock seconds of refinement (E(x), the steps, the decode) per image; for a snapshot, E(x) and its steps (not the decode). */
  secondsPerImage: number;
}

export interface EvalProgress {
  stage: EvalStage;
  done: number;
  total: number;
}

export interface MnistEvalOptions {
  /** Held-out digits to use, evenly spread over the split (default: all 1000). */
  heldOutLimit?: number;
  /** Train digits to compare against, evenly spread over the split (default: all 9000; at least 5). */
  trainLimit?: number;
  /** Generated samples (default 1000; 0 skips them). */
  generatedCount?: number;
  /** Noise seed of the reconstructions, and first seed of the generated samples (default 0). */
  seed?: number;
  /** Images per forward pass (default 256). */
  batchSize?: number;
  /** Truncation of the generated samples (default: none, psi 1). */
  truncation?: Truncation;
  /** Also measure refined reconstructions (default: not). */
  refine?: EvalRefineOptions;
  onProgress?: (p: EvalProgress) => void;
}

export interface GeneratedReport {
  count: number;
  /** First seed; the samples come from seeds firstSeed .. firstSeed + count - 1. */
  firstSeed: number;
  /** Truncation psi used (1: none). */
  truncationPsi: number;
  /** Share with at least CONFIDENT_VOTES of the EVAL_K nearest train digits on the nearest one's label. */
  confidentShare: number;
  /** Samples per digit 0..9, by the nearest train digit's label. */
  labelHistogram: number[];
}

export interface MnistEvalReport {
  /** The model's file (or `random <preset>` for a created one). */
  model: string;
  config: string;
  backend: string;
  data: 'mnist';
  /** Held-out digits evaluated, and train digits compared against. */
  heldOut: number;
  train: number;
  seed: number;
  /** Mean squared error of the reconstructions, images in [-1, 1]. */
  reconstructionMse: number;
  /** Share of reconstructions the train split's 1-NN pixel classifier labels as the input's digit. */
  reconstructionLabelKept: number;
  /** The same classifier on the held-out inputs: the ceiling of reconstructionLabelKept. */
  pixel1nnOnInputs: number;
  /** Share of held-out w whose 5-NN majority vote over the train split's w is their digit. */
  wKnnAccuracy: number;
  /** null when generatedCount is 0. */
  generated: GeneratedReport | null;
  /** null unless asked for (`refine`). */
  refined: RefinedReport | null;
  /** The same refinement measured at each of `refine.snapshotAt`'s step counts (the same run stopped earlier). */
  refinedAt: RefinedReport[];
  /** Wall-clock seconds, in all and per stage. */
  seconds: number;
  stageSeconds: Record<EvalStage, number>;
}

/** `limit` indices spread evenly over `all` (which is sorted by digit, so each digit keeps its share). */
function spread(all: Int32Array, limit: number | undefined, what: string, min: number): Int32Array {
  if (limit === undefined || limit >= all.length) return all;
  if (!Number.isInteger(limit) || limit < min) throw new AlaeError(`${what} must be an integer >= ${min} (got ${limit})`);
  const out = new Int32Array(limit);
  for (let i = 0; i < limit; i++) out[i] = all[Math.floor((i * all.length) / limit)];
  return out;
}

function checkInt(v: number, what: string, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) throw new AlaeError(`${what} must be an integer >= ${min} (got ${v})`);
  return v;
}

/** The digits, their pixels as [-1, 1] floats (row after row), and their labels. */
async function digits(ds: MnistDataset, indices: Int32Array): Promise<{ images: RawImage[]; x: Float32Array; labels: Uint8Array }> {
  const images: RawImage[] = [];
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    images.push({ data: await ds.get(indices[i], MNIST_RESOLUTION), width: MNIST_RESOLUTION, height: MNIST_RESOLUTION, channels: 1 });
    labels[i] = ds.label(indices[i]);
  }
  return { images, x: imagesToFloat(images, MNIST_RESOLUTION, 1), labels };
}

/** w of every row of `x` (NHWC [-1, 1] floats), `batch` images per forward pass. */
async function encodeAll(alae: Alae, x: Float32Array, batch: number, report: (done: number, total: number) => void): Promise<Float32Array> {
  const per = MNIST_RESOLUTION * MNIST_RESOLUTION;
  const n = x.length / per;
  const size = alae.latentSize;
  const out = new Float32Array(n * size);
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const w = tf.tidy(() => alae.model.encode(tf.tensor4d(x.subarray(start * per, (start + m) * per), [m, MNIST_RESOLUTION, MNIST_RESOLUTION, 1])));
    try {
      out.set((await w.data()) as Float32Array, start * size);
    } finally {
      w.dispose();
    }
    report(start + m, n);
    await yieldToLoop();
  }
  return out;
}

/** Mean of (a - b)^2 over all values. */
function meanSquaredError(a: Float32Array, b: Float32Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    se += d * d;
  }
  return se / a.length;
}

/** Share of rows whose nearest neighbour (first of each k) has the row's label. */
function nearestAgrees(nn: Int32Array, k: number, refLabels: Uint8Array, labels: Uint8Array, firstRow: number): number {
  let ok = 0;
  for (let i = 0; i < labels.length; i++) if (refLabels[nn[(firstRow + i) * k]] === labels[i]) ok++;
  return ok / labels.length;
}

/** Majority label of one query's k neighbours; a tie goes to the label met first (the nearer neighbour). */
function vote(nn: Int32Array, row: number, k: number, refLabels: Uint8Array): number {
  const counts = new Array<number>(10).fill(0);
  for (let j = 0; j < k; j++) counts[refLabels[nn[row * k + j]]]++;
  let best = refLabels[nn[row * k]];
  for (let j = 1; j < k; j++) {
    const l = refLabels[nn[row * k + j]];
    if (counts[l] > counts[best]) best = l;
  }
  return best;
}

/**
 * Measure a model on the held-out MNIST digits (see the module doc). The
 * model must be 1-channel 32x32, as the digits are.
 */
export async function evaluateMnist(alae: Alae, opts: MnistEvalOptions = {}): Promise<MnistEvalReport> {
  if (alae.channels !== 1 || alae.resolution !== MNIST_RESOLUTION) {
    throw new AlaeError(
      `MNIST evaluation needs a 1-channel ${MNIST_RESOLUTION}x${MNIST_RESOLUTION} model (the digits' own format); this one is ${alae.resolution}x${alae.resolution} with ${alae.channels} channels`,
      alae.file,
    );
  }
  const t0 = performance.now();
  const seed = checkInt(opts.seed ?? 0, 'seed', 0);
  const batch = checkInt(opts.batchSize ?? 256, 'batch size', 1);
  const generatedCount = checkInt(opts.generatedCount ?? 1000, 'generated count', 0);
  const progress = opts.onProgress;
  const stageSeconds: Record<EvalStage, number> = { 'encode-train': 0, 'encode-held-out': 0, reconstruct: 0, refine: 0, generate: 0, 'pixel-knn': 0, 'w-knn': 0 };
  const timed = async <T>(stage: EvalStage, job: (report: (done: number, total: number) => void) => Promise<T>): Promise<T> => {
    const start = performance.now();
    try {
      return await job((done, total) => progress?.({ stage, done, total }));
    } finally {
      stageSeconds[stage] += (performance.now() - start) / 1000;
    }
  };

  const ds = new MnistDataset();
  const trainIdx = spread(mnistSplit('train'), opts.trainLimit, 'train limit', EVAL_K);
  const testIdx = spread(mnistSplit('test'), opts.heldOutLimit, 'held-out limit', 1);
  const train = await digits(ds, trainIdx);
  const test = await digits(ds, testIdx);
  const per = MNIST_RESOLUTION * MNIST_RESOLUTION;
  const nTest = testIdx.length;

  const trainW = await timed('encode-train', (r) => encodeAll(alae, train.x, batch, r));
  const testW = await timed('encode-held-out', (r) => encodeAll(alae, test.x, batch, r));

  const recon = await timed('reconstruct', (r) =>
    alae.decode({ kind: 'w', count: nTest, size: alae.latentSize, data: testW }, { seed, batchSize: batch, onProgress: (p) => r(p.done, p.total) }),
  );
  const reconX = imagesToFloat(recon, MNIST_RESOLUTION, 1);

  const settings = opts.refine ? refineSettings(opts.refine) : null;
  const snapshotAt = opts.refine?.snapshotAt ?? [];
  // Seconds to each step's end, summed over the batches (each from the previous one's last step): the snapshots' time.
  const stepSeconds = new Float64Array((settings?.steps ?? 0) + 1);
  const refinedRuns = settings
    ? await timed('refine', async (r) => {
        let batchStart = performance.now();
        let last = batchStart;
        const res = await refine(alae, test.images, {
          ...settings,
          snapshotAt,
          seed,
          batchSize: batch,
          onProgress: (p) => {
            const now = performance.now();
            if (p.step === 1) batchStart = p.done === 0 ? batchStart : last;
            stepSeconds[p.step] += (now - batchStart) / 1000;
            last = now;
            r(p.imageSteps, p.totalImageSteps);
          },
        });
        const snaps = [];
        for (const s of res.snapshots) snaps.push(imagesToFloat(await alae.decode(s.latents, { seed, batchSize: batch }), MNIST_RESOLUTION, 1));
        return [imagesToFloat(res.images, MNIST_RESOLUTION, 1), ...snaps];
      })
    : [];

  const seeds = Array.from({ length: generatedCount }, (_, i) => seed + i);
  const generated = await timed('generate', (r) =>
    alae.generate(seeds, { truncation: opts.truncation ?? false, batchSize: batch, onProgress: (p) => r(p.done, p.total) }),
  );

  // One pass for every pixel-space query: inputs, reconstructions, samples, refined reconstructions (final, then snapshots).
  const queries = new Float32Array(((2 + refinedRuns.length) * nTest + generatedCount) * per);
  queries.set(test.x, 0);
  queries.set(reconX, nTest * per);
  if (generatedCount > 0) queries.set(imagesToFloat(generated, MNIST_RESOLUTION, 1), 2 * nTest * per);
  refinedRuns.forEach((x, k) => queries.set(x, ((2 + k) * nTest + generatedCount) * per));
  const pixNN = await timed('pixel-knn', (r) => nearestNeighbours(queries, train.x, per, EVAL_K, { onProgress: r }));
  const wNN = await timed('w-knn', (r) => nearestNeighbours(testW, trainW, alae.latentSize, EVAL_K, { onProgress: r }));

  let wOk = 0;
  for (let i = 0; i < nTest; i++) if (vote(wNN, i, EVAL_K, train.labels) === test.labels[i]) wOk++;

  let gen: GeneratedReport | null = null;
  if (generatedCount > 0) {
    const histogram = new Array<number>(10).fill(0);
    let confident = 0;
    for (let g = 0; g < generatedCount; g++) {
      const row = 2 * nTest + g;
      const nearest = train.labels[pixNN[row * EVAL_K]];
      histogram[nearest]++;
      let same = 0;
      for (let j = 0; j < EVAL_K; j++) if (train.labels[pixNN[row * EVAL_K + j]] === nearest) same++;
      if (same >= CONFIDENT_VOTES) confident++;
    }
    gen = {
      count: generatedCount,
      firstSeed: seed,
      truncationPsi: opts.truncation?.psi ?? 1,
      confidentShare: confident / generatedCount,
      labelHistogram: histogram,
    };
  }

  const refinedReport = (k: number, steps: number, seconds: number): RefinedReport => ({
    steps,
    space: settings!.space,
    from: settings!.from,
    lr: settings!.lr,
    reconstructionMse: meanSquaredError(refinedRuns[k], test.x),
    reconstructionLabelKept: nearestAgrees(pixNN, EVAL_K, train.labels, test.labels, (2 + k) * nTest + generatedCount),
    secondsPerImage: seconds / nTest,
  });
  const refined = settings ? refinedReport(0, settings.steps, stageSeconds.refine) : null;
  const refinedAt = snapshotAt.map((steps, k) => refinedReport(k + 1, steps, stepSeconds[steps]));

  return {
    model: alae.file,
    config: alae.config.name,
    backend: alae.backend,
    data: 'mnist',
    heldOut: nTest,
    train: trainIdx.length,
    seed,
    reconstructionMse: meanSquaredError(reconX, test.x),
    reconstructionLabelKept: nearestAgrees(pixNN, EVAL_K, train.labels, test.labels, nTest),
    pixel1nnOnInputs: nearestAgrees(pixNN, EVAL_K, train.labels, test.labels, 0),
    wKnnAccuracy: wOk / nTest,
    generated: gen,
    refined,
    refinedAt,
    seconds: (performance.now() - t0) / 1000,
    stageSeconds,
  };
}
