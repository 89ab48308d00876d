/**
 * Training batches from an ImageDataset: float32 NHWC in [-1, 1]
 * (uint8 / 127.5 - 1 by image/image.ts's toFloatImage, the jobs' own
 * table), shuffled per epoch with the
 * seeded Rng, optionally mirrored, decoded ahead of the consumer.
 *
 * ## Order
 *
 * The loader samples from `indices` (default: the dataset's
 * `trainIndices`, else all of 0..size-1; MNIST's held-out split is thus
 * never read). Epoch e starts from an Rng state S_e (S_0 = new Rng(seed)):
 * a Fisher-Yates shuffle of the positions 0..count-1 (`Rng.shuffle`), then
 * one flip bit per position (bit j of nextU32() for 32 positions at a
 * time; drawn whether or not `mirror` is on, so the order never depends on
 * it); what the Rng holds afterwards is S_{e+1}. Samples are taken from
 * this stream in order, and a batch that runs past the end of an epoch
 * continues into the next one, so every batch is full and every index
 * appears exactly once per epoch.
 *
 * ## Resuming
 *
 * `getState()` is the position after the last batch `next()` returned
 * (not what is prefetched): epoch, position in that epoch's permutation
 * and S_epoch. `restore(state)` continues with exactly the same samples and
 * flips. `reset({ resolution, batchSize })` (a new level of detail) keeps
 * the position and drops batches decoded for the old settings.
 *
 * Do not call `reset`/`restore` while a `next()` is still pending.
 */
import { AlaeError } from '../errors.js';
import { toFloatImage } from '../image/image.js';
import { Rng } from '../util/random.js';
import type { RngState } from '../util/random.js';
import type { ImageDataset } from './dataset.js';
import { isValidResolution } from './dataset.js';

export interface BatchLoaderOptions {
  batchSize: number;
  resolution: number;
  seed: number;
  /** Mirror each image horizontally with probability 1/2 (the reference's DATASET.FLIP_IMAGES). Default false. */
  mirror?: boolean;
  /** Batches decoded ahead of the consumer (default 3, at least 1). */
  prefetch?: number;
  /** Dataset indices to sample from; default `dataset.trainIndices` or all. */
  indices?: ArrayLike<number>;
}

export interface Batch {
  /** NHWC float32, values uint8 / 127.5 - 1. */
  data: Float32Array;
  shape: [number, number, number, number];
  /** Dataset index of each image. */
  indices: Int32Array;
  /** 1 where the image was mirrored. */
  flipped: Uint8Array;
  /** Epoch of the batch's first image. */
  epoch: number;
}

/** JSON-serializable loader position. */
export interface LoaderState {
  version: 1;
  /** How many indices the loader samples from (checked on restore). */
  count: number;
  epoch: number;
  /** Samples of `epoch` already consumed. */
  position: number;
  /** Rng state at the start of `epoch`, before its shuffle. */
  rng: RngState;
}

interface EpochPlan {
  epoch: number;
  start: RngState;
  perm: Int32Array;
  flips: Uint8Array;
  next: RngState;
}

interface Cursor {
  plan: EpochPlan;
  position: number;
}

interface Pending {
  promise: Promise<Batch & { after: LoaderState }>;
}

function planEpoch(epoch: number, start: RngState, count: number): EpochPlan {
  const rng = Rng.fromState(start);
  const perm = new Int32Array(count);
  for (let i = 0; i < count; i++) perm[i] = i;
  rng.shuffle(perm);
  const flips = new Uint8Array(count);
  for (let i = 0; i < count; i += 32) {
    const bits = rng.nextU32();
    for (let j = 0; j < 32 && i + j < count; j++) flips[i + j] = (bits >>> j) & 1;
  }
  return { epoch, start, perm, flips, next: rng.getState() };
}

export class BatchLoader {
  private readonly dataset: ImageDataset;
  private readonly indices: Int32Array;
  private batchSize: number;
  private resolution: number;
  private mirror: boolean;
  private readonly prefetch: number;
  private consumed: LoaderState;
  private cursor: Cursor;
  private pending: Pending[] = [];
  private planCache: EpochPlan[] = [];

  constructor(dataset: ImageDataset, opts: BatchLoaderOptions) {
    this.dataset = dataset;
    const src = opts.indices ?? dataset.trainIndices;
    if (src) {
      this.indices = Int32Array.from(src as ArrayLike<number>);
      for (const i of this.indices) {
        if (i < 0 || i >= dataset.size) throw new AlaeError(`index ${i} out of range 0..${dataset.size - 1}`, dataset.name);
      }
    } else {
      this.indices = new Int32Array(dataset.size);
      for (let i = 0; i < dataset.size; i++) this.indices[i] = i;
    }
    if (this.indices.length === 0) throw new AlaeError('no images to train on', dataset.name);
    if (!Number.isInteger(opts.seed)) throw new AlaeError(`seed must be an integer, got ${opts.seed}`);
    this.batchSize = checkBatchSize(opts.batchSize);
    this.resolution = checkResolution(opts.resolution);
    this.mirror = opts.mirror ?? false;
    this.prefetch = Math.max(1, Math.floor(opts.prefetch ?? 3));
    this.consumed = { version: 1, count: this.indices.length, epoch: 0, position: 0, rng: new Rng(opts.seed).getState() };
    this.cursor = this.cursorAt(this.consumed);
    this.fill();
  }

  /** Number of indices sampled from. */
  get count(): number {
    return this.indices.length;
  }

  /** Epoch of the next sample to be returned. */
  get epoch(): number {
    return this.consumed.epoch;
  }

  get currentBatchSize(): number {
    return this.batchSize;
  }

  get currentResolution(): number {
    return this.resolution;
  }

  /** Batches per epoch, rounded up. */
  get batchesPerEpoch(): number {
    return Math.ceil(this.indices.length / this.batchSize);
  }

  /** The next batch. Decoding of the following batches is already under way. */
  async next(): Promise<Batch> {
    if (this.pending.length === 0) this.fill();
    const p = this.pending.shift()!;
    this.fill();
    try {
      const { after, ...batch } = await p.promise;
      this.consumed = after;
      return batch;
    } catch (e) {
      // Start again from the last good position so a retry reads the same
      // samples; prefetching resumes with the next call.
      this.restart(false);
      throw e;
    }
  }

  getState(): LoaderState {
    return { ...this.consumed, rng: { ...this.consumed.rng } };
  }

  /** Continue exactly where `state` (from getState) left off. */
  restore(state: LoaderState): void {
    if (!state || state.version !== 1 || !state.rng) throw new AlaeError('not a data loader state');
    if (state.count !== this.indices.length) {
      throw new AlaeError(
        `the saved loader state is for ${state.count} images but the dataset now gives ${this.indices.length}; cannot resume the same order`,
        this.dataset.name,
      );
    }
    if (!Number.isInteger(state.position) || state.position < 0 || state.position > state.count) {
      throw new AlaeError(`bad loader state position ${state.position}`);
    }
    this.consumed = { version: 1, count: state.count, epoch: state.epoch, position: state.position, rng: { ...state.rng } };
    this.planCache = [];
    this.restart();
  }

  /** New level settings; the sample order continues from the current position. */
  reset(opts: { resolution?: number; batchSize?: number; mirror?: boolean }): void {
    if (opts.resolution !== undefined) this.resolution = checkResolution(opts.resolution);
    if (opts.batchSize !== undefined) this.batchSize = checkBatchSize(opts.batchSize);
    if (opts.mirror !== undefined) this.mirror = opts.mirror;
    this.restart();
  }

  /** Stop prefetching (pending decodes finish in the background and are dropped). */
  close(): void {
    this.pending = [];
  }

  private restart(prefetch = true): void {
    this.pending = [];
    this.cursor = this.cursorAt(this.consumed);
    if (prefetch) this.fill();
  }

  private plan(epoch: number, start: RngState): EpochPlan {
    const hit = this.planCache.find((p) => p.epoch === epoch && p.start.state === start.state && p.start.inc === start.inc);
    if (hit) return hit;
    const p = planEpoch(epoch, start, this.indices.length);
    this.planCache.push(p);
    if (this.planCache.length > 3) this.planCache.shift();
    return p;
  }

  private cursorAt(s: LoaderState): Cursor {
    let plan = this.plan(s.epoch, s.rng);
    let position = s.position;
    if (position >= this.indices.length) {
      plan = this.plan(plan.epoch + 1, plan.next);
      position = 0;
    }
    return { plan, position };
  }

  private fill(): void {
    while (this.pending.length < this.prefetch) {
      const n = this.batchSize;
      const idx = new Int32Array(n);
      const flips = new Uint8Array(n);
      const epoch = this.cursor.plan.epoch;
      for (let k = 0; k < n; k++) {
        if (this.cursor.position >= this.indices.length) {
          const p = this.cursor.plan;
          this.cursor = { plan: this.plan(p.epoch + 1, p.next), position: 0 };
        }
        const { plan, position } = this.cursor;
        idx[k] = this.indices[plan.perm[position]];
        flips[k] = this.mirror ? plan.flips[position] : 0;
        this.cursor.position++;
      }
      if (this.cursor.position >= this.indices.length) {
        const p = this.cursor.plan;
        this.cursor = { plan: this.plan(p.epoch + 1, p.next), position: 0 };
      }
      const after: LoaderState = {
        version: 1,
        count: this.indices.length,
        epoch: this.cursor.plan.epoch,
        position: this.cursor.position,
        rng: this.cursor.plan.start,
      };
      const promise = this.decode(idx, flips, epoch, this.resolution, after);
      promise.catch(() => {}); // handled in next(); avoid unhandled-rejection noise for dropped batches
      this.pending.push({ promise });
    }
  }

  private async decode(
    idx: Int32Array,
    flips: Uint8Array,
    epoch: number,
    resolution: number,
    after: LoaderState,
  ): Promise<Batch & { after: LoaderState }> {
    const ds = this.dataset;
    const c = ds.channels;
    await ds.prepare(resolution);
    const per = resolution * resolution * c;
    const data = new Float32Array(idx.length * per);
    await Promise.all(
      Array.from(idx, async (i, k) => {
        const px = await ds.get(i, resolution);
        toFloatImage(px, resolution, c, flips[k] === 1, data, k * per);
      }),
    );
    return { data, shape: [idx.length, resolution, resolution, c], indices: idx, flipped: flips, epoch, after };
  }
}

function checkBatchSize(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new AlaeError(`batch size must be a positive integer, got ${n}`);
  return n;
}

function checkResolution(r: number): number {
  if (!isValidResolution(r)) throw new AlaeError(`invalid resolution ${r}`);
  return r;
}
