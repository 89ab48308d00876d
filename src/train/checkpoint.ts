/**
 * Training checkpoints: one safetensors file with everything a run needs to
 * continue exactly where it stopped.
 *
 * Tensors (float32, our layout, names from params.ts):
 *   trained/<param>, trained/dlatent_avg.buff    the networks being trained
 *   averaged/<param>, averaged/dlatent_avg.buff  the averaged networks (model_s)
 *   adam.encoder/<param>, adam.decoder/<param>   LREQAdam exp_avg_sq
 * Metadata (strings):
 *   format        'alae-checkpoint/1'
 *   alae.config   the AlaeConfig as JSON
 *   alae.adam     {encoder: {lr, steps: {param: step}}, decoder: {...}}
 *   alae.train    TrainProgress as JSON: schedule position, Rng and loader
 *                 states, report/snapshot ticks, loss sums, metrics tail
 *
 * Files: `<out>/checkpoints/ckpt-<images>.safetensors`, written atomically
 * (temp + rename), then `<out>/latest` (the file's name, also atomic), then
 * older checkpoints are removed. A crash at any point leaves `latest`
 * naming a complete file.
 */
import type { TrainReport } from './trainer.js';
import { readdir, readFile, unlink, mkdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { type AlaeConfig, resolveConfig, styleCount } from '../config/config.js';
import { AlaeError } from '../errors.js';
import { paramSpecs } from '../model/params.js';
import type { LoaderState } from '../data/loader.js';
import { writeFileAtomic } from '../util/atomic.js';
import { f32, fromFloat32, isSafetensors, parseSafetensors, readSafetensorsMetadata, serializeSafetensors, type SafeTensor } from '../io/safetensors.js';
import type { RngState } from '../util/random.js';
import type { AdamStateArrays } from './lreq-adam.js';

export const CHECKPOINT_FORMAT = 'alae-checkpoint/1';
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

export interface OptimizerSnapshot {
  lr: number;
  state: AdamStateArrays;
}

export interface CheckpointData {
  config: AlaeConfig;
  trained: Map<string, Float32Array>;
  averaged: Map<string, Float32Array>;
  encoder: OptimizerSnapshot;
  decoder: OptimizerSnapshot;
  progress: TrainProgress;
}

function shapesOf(config: AlaeConfig): Map<string, number[]> {
  const shapes = new Map(paramSpecs(config.model).map((s) => [s.name, s.shape]));
  shapes.set('dlatent_avg.buff', [styleCount(config.model), config.model.latentSize]);
  return shapes;
}

/** The bytes of a checkpoint file. */
export function encodeCheckpoint(c: CheckpointData): Uint8Array {
  const shapes = shapesOf(c.config);
  const tensors = new Map<string, SafeTensor>();
  const put = (prefix: string, arrays: ReadonlyMap<string, Float32Array>): void => {
    for (const [name, data] of arrays) {
      const shape = shapes.get(name);
      if (!shape) throw new AlaeError(`checkpoint: no parameter named ${name} in this config`);
      tensors.set(`${prefix}/${name}`, fromFloat32(shape, data));
    }
  };
  put('trained', c.trained);
  put('averaged', c.averaged);
  const adam: Record<string, { lr: number; steps: Record<string, number> }> = {};
  for (const [which, o] of [['encoder', c.encoder], ['decoder', c.decoder]] as const) {
    const steps: Record<string, number> = {};
    for (const [name, s] of Object.entries(o.state)) {
      steps[name] = s.step;
      const shape = shapes.get(name);
      if (!shape) throw new AlaeError(`checkpoint: optimizer state for unknown parameter ${name}`);
      tensors.set(`adam.${which}/${name}`, fromFloat32(shape, s.expAvgSq));
    }
    adam[which] = { lr: o.lr, steps };
  }
  return serializeSafetensors(tensors, {
    format: CHECKPOINT_FORMAT,
    'alae.config': JSON.stringify(c.config),
    'alae.adam': JSON.stringify(adam),
    'alae.train': JSON.stringify(c.progress),
  });
}

function parseJson<T>(meta: Record<string, string>, key: string, file: string): T {
  const raw = meta[key];
  if (raw === undefined) throw new AlaeError(`not an alae checkpoint: no '${key}' in the metadata`, file);
  try {
    return JSON.parse(raw) as T;
  } catch (e) {
    throw new AlaeError(`bad '${key}' metadata: ${(e as Error).message}`, file);
  }
}

/** Parse and check checkpoint bytes (every tensor shape, both directions). */
export function decodeCheckpoint(bytes: Uint8Array, file: string): CheckpointData {
  const { tensors, metadata } = parseSafetensors(bytes, file);
  if (metadata.format !== CHECKPOINT_FORMAT) {
    const hint = metadata['alae.config'] ? ' (this looks like a model file: use --init to start a run from its weights)' : '';
    throw new AlaeError(`not an alae checkpoint (format '${metadata.format ?? 'none'}', expected '${CHECKPOINT_FORMAT}')${hint}`, file);
  }
  let config: AlaeConfig;
  try {
    const parsed = parseJson<AlaeConfig>(metadata, 'alae.config', file);
    config = resolveConfig(parsed, { name: parsed.name });
  } catch (e) {
    throw e instanceof AlaeError && e.file ? e : new AlaeError(`bad config in the checkpoint: ${(e as Error).message}`, file);
  }
  const adam = parseJson<Record<'encoder' | 'decoder', { lr: number; steps: Record<string, number> }>>(metadata, 'alae.adam', file);
  const progress = parseJson<TrainProgress>(metadata, 'alae.train', file);
  if (progress?.version !== 1 || !progress.rng || !progress.loader) throw new AlaeError('bad training state in the checkpoint', file);
  const shapes = shapesOf(config);
  const trained = new Map<string, Float32Array>();
  const averaged = new Map<string, Float32Array>();
  const v: Record<'encoder' | 'decoder', Map<string, Float32Array>> = { encoder: new Map(), decoder: new Map() };
  for (const [key, t] of tensors) {
    const slash = key.indexOf('/');
    const group = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const want = shapes.get(name);
    if (slash < 0 || !want) throw new AlaeError(`unexpected tensor ${key} for a ${config.name} model`, file);
    if (t.dtype !== 'F32' || t.shape.join(',') !== want.join(',')) throw new AlaeError(`${key}: expected F32 [${want}], found ${t.dtype} [${t.shape}]`, file);
    const data = f32(t).slice(); // own the memory, not a view of the file buffer
    if (group === 'trained') trained.set(name, data);
    else if (group === 'averaged') averaged.set(name, data);
    else if (group === 'adam.encoder') v.encoder.set(name, data);
    else if (group === 'adam.decoder') v.decoder.set(name, data);
    else throw new AlaeError(`unexpected tensor ${key}`, file);
  }
  for (const [what, m] of [['trained', trained], ['averaged', averaged]] as const) {
    const missing = [...shapes.keys()].filter((k) => !m.has(k));
    if (missing.length) throw new AlaeError(`${what} weights incomplete: ${missing.length} missing (${missing.slice(0, 3).join(', ')})`, file);
  }
  const opt = (which: 'encoder' | 'decoder'): OptimizerSnapshot => {
    const a = adam[which];
    if (!a || typeof a.lr !== 'number' || typeof a.steps !== 'object') throw new AlaeError(`bad optimizer metadata for ${which}`, file);
    const state: AdamStateArrays = {};
    for (const [name, step] of Object.entries(a.steps)) {
      const data = v[which].get(name);
      if (!data) throw new AlaeError(`optimizer ${which}: no exp_avg_sq tensor for ${name}`, file);
      if (!Number.isInteger(step) || step < 0) throw new AlaeError(`optimizer ${which}: bad step count ${step} for ${name}`, file);
      state[name] = { step, expAvgSq: data };
    }
    if (Object.keys(state).length !== v[which].size) throw new AlaeError(`optimizer ${which}: exp_avg_sq tensors without a step count`, file);
    return { lr: a.lr, state };
  };
  return { config, trained, averaged, encoder: opt('encoder'), decoder: opt('decoder'), progress };
}

/** Is this file a training checkpoint (rather than a model file or a reference .pth)? Reads its header only. */
export async function isCheckpointFile(file: string): Promise<boolean> {
  return (await isSafetensors(file)) && (await readSafetensorsMetadata(file)).format === CHECKPOINT_FORMAT;
}

export async function readCheckpoint(file: string): Promise<CheckpointData> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new AlaeError(`cannot read checkpoint (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  return decodeCheckpoint(bytes, file);
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
  await writeFileAtomic(path, encodeCheckpoint(c));
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
