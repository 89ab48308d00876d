/**
 * The trainer's checkpoints: what the progress record holds (enough to
 * continue a run bit for bit) and where checkpoints go in a run folder.
 * The file format itself is io/checkpoint-file.ts.
 *
 * Files: `<out>/checkpoints/ckpt-<images>.safetensors`, written atomically
 * (temp + rename), then `<out>/latest` (the file's name, also atomic), then
 * older checkpoints are removed. A crash at any point leaves `latest`
 * naming a complete file.
 */
import type { TrainReport } from './trainer.js';
import { readdir, readFile, unlink, mkdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { AlaeError } from '../errors.js';
import type { LoaderState } from '../data/loader.js';
import { writeFileAtomic } from '../util/atomic.js';
import { type CheckpointContents, decodeCheckpointFile, encodeCheckpointFile, readCheckpointFile, readCheckpointHeader } from '../io/checkpoint-file.js';
import type { AlaeConfig } from '../config/config.js';
import type { RngState } from '../util/random.js';

export const CHECKPOINT_DIR = 'checkpoints';
export const LATEST_FILE = 'latest';

/** Sums of the three losses over the iterations since the last report. */
export interface LossSums {
  d: number;
  g: number;
  ae: number;
  count: number;
}

/** One report as written to metrics.jsonl (and kept at the tail of checkpoints). */
export interface MetricsRecord extends TrainReport {
  time: string;
}

/** Where a run stands: enough to continue it bit for bit. */
export interface TrainProgress {
  version: 1;
  seed: number;
  /** Images per epoch the schedule was computed with. */
  epochImages: number;
  epoch: number;
  imagesIntoEpoch: number;
  imagesTotal: number;
  iteration: number;
  /** Level whose optimizer state is held (a different level resets it). */
  lod: number;
  imagesSinceReport: number;
  imagesSinceSnapshot: number;
  lossSums: LossSums;
  rng: RngState;
  loader: LoaderState;
  /** Seconds of training before this checkpoint (all sessions). */
  elapsedSec: number;
  metricsTail: MetricsRecord[];
}

/** A checkpoint of ours, with the trainer's progress record. */
export type CheckpointData = CheckpointContents<TrainProgress>;

/** The progress record must be one this trainer wrote (version 1, with its Rng and loader states). */
function checkProgress<C extends { progress: unknown }>(c: C, file: string): C & { progress: TrainProgress } {
  const p = c.progress as Partial<TrainProgress>;
  if (p.version !== 1 || !p.rng || !p.loader) throw new AlaeError('bad training state in the checkpoint', file);
  return c as C & { progress: TrainProgress };
}

/** Parse and check checkpoint bytes (every tensor shape, both directions, and the progress record). */
export function decodeCheckpoint(bytes: Uint8Array, file: string): CheckpointData {
  return checkProgress(decodeCheckpointFile(bytes, file), file);
}

export async function readCheckpoint(file: string): Promise<CheckpointData> {
  return checkProgress(await readCheckpointFile(file), file);
}

/** A checkpoint's config and progress from its header, without reading its tensors. */
export async function readCheckpointProgress(file: string): Promise<{ config: AlaeConfig; progress: TrainProgress }> {
  return checkProgress(await readCheckpointHeader(file), file);
}

/** Checkpoint file name for a position (zero-padded so names sort by position). */
export function checkpointName(imagesTotal: number): string {
  return `ckpt-${String(imagesTotal).padStart(10, '0')}.safetensors`;
}

/**
 * Write a checkpoint into `<outDir>/checkpoints/`, point `<outDir>/latest` at
 * it, then delete the older ones beyond `keep`. Returns the file's path.
 */
export async function writeCheckpoint(outDir: string, c: CheckpointData, keep = 1): Promise<string> {
  const dir = join(outDir, CHECKPOINT_DIR);
  await mkdir(dir, { recursive: true });
  const name = checkpointName(c.progress.imagesTotal);
  const path = join(dir, name);
  await writeFileAtomic(path, encodeCheckpointFile(c));
  await writeFileAtomic(join(outDir, LATEST_FILE), `${CHECKPOINT_DIR}/${name}\n`);
  const old = (await readdir(dir)).filter((f) => /^ckpt-\d+\.safetensors$/.test(f) && f !== name).sort();
  const drop = old.slice(0, Math.max(0, old.length - (keep - 1)));
  for (const f of drop) await unlink(join(dir, f)).catch(() => undefined);
  return path;
}

/**
 * The checkpoint `spec` names: a checkpoint file, or a run folder (its
 * `latest` pointer). Returns null for a folder without one.
 */
export async function findCheckpoint(spec: string): Promise<string | null> {
  const pointer = join(spec, LATEST_FILE);
  let text: string;
  try {
    text = await readFile(pointer, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') return spec; // a file
    if (code === 'ENOENT') {
      try {
        await readdir(spec);
        return null; // a folder without a checkpoint
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code === 'ENOTDIR') return spec;
        throw new AlaeError('no such checkpoint or run folder', spec);
      }
    }
    throw new AlaeError(`cannot read the latest pointer (${code})`, pointer);
  }
  const rel = text.trim();
  if (!rel || rel.includes('\0')) throw new AlaeError('the latest pointer is empty', pointer);
  const path = resolve(spec, rel);
  if (dirname(path) !== resolve(spec, CHECKPOINT_DIR) || basename(path) !== basename(rel)) {
    throw new AlaeError(`the latest pointer names a file outside ${CHECKPOINT_DIR}/ (${rel})`, pointer);
  }
  return path;
}
