/**
 * The one interface every training data source implements (image folder,
 * MNIST digits, TFRecords). A dataset hands out uint8 HWC pixels of square
 * images at any resolution the trainer's levels ask for; turning them into
 * float32 NHWC batches in [-1, 1] is the job of `BatchLoader` (loader.ts).
 */

/** An input the dataset could not use: the file (or `file#record`) and why. */
export interface SkippedItem {
  readonly file: string;
  readonly reason: string;
}

/**
 * Progress of a long preparation step (decoding a folder into a cache,
 * scanning TFRecords). `stage` says which step, e.g. `"decode r32"`.
 */
export type ProgressFn = (done: number, total: number, stage?: string) => void;

export interface ImageDataset {
  /** Short name for logs (folder base name, `mnist`, the tfrecords pattern). */
  readonly name: string;
  /** Number of usable images; indices run 0..size-1. Skipped inputs are not counted. */
  readonly size: number;
  /** Channels of the pixels `get` returns: 1 (grayscale) or 3 (RGB). */
  readonly channels: number;
  /**
   * Largest resolution `get` can serve without upscaling, or `null` when any
   * resolution works (an image folder resamples from the source files).
   */
  readonly maxResolution: number | null;
  /**
   * Indices training may read (ascending). Absent means all of 0..size-1.
   * MNIST leaves its held-out split out of this list; `BatchLoader` uses it
   * unless given explicit indices.
   */
  readonly trainIndices?: ArrayLike<number>;
  /** Inputs that could not be used (corrupt images, bad records), with reasons. */
  readonly skipped: ReadonlyArray<SkippedItem>;
  /**
   * Make `resolution` ready (build or load its cache). Optional to call:
   * `get` prepares on first use. Calling it up front lets the caller show
   * progress and keeps the first batch of a level fast.
   */
  prepare(resolution: number, onProgress?: ProgressFn): Promise<void>;
  /**
   * uint8 pixels of image `index`, `resolution` x `resolution`, HWC with
   * `channels` channels (length resolution*resolution*channels). The array
   * may be a view into the dataset's own storage: read it, never write it.
   */
  get(index: number, resolution: number): Promise<Uint8Array>;
  /** Release open files. The dataset must not be used afterwards. */
  close(): Promise<void>;
}

/** A resolution a dataset may be asked for: an integer in 1..32768. */
export function isValidResolution(resolution: number): boolean {
  return Number.isInteger(resolution) && resolution >= 1 && resolution <= 1 << 15;
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}
