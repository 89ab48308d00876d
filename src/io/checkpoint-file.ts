/**
 * Our training checkpoint format: one safetensors file with everything a
 * run needs to continue exactly where it stopped.
 *
 * Tensors (float32, our layout, names from params.ts):
 *   trained/<param>, trained/dlatent_avg.buff    the networks being trained
 *   averaged/<param>, averaged/dlatent_avg.buff  the averaged networks (model_s)
 *   adam.encoder/<param>, adam.decoder/<param>   LREQAdam exp_avg_sq
 * Metadata (strings):
 *   format        'alae-checkpoint/1'
 *   alae.config   the AlaeConfig as JSON
 *   alae.adam     {encoder: {lr, steps: {param: step}}, decoder: {...}}
 *   alae.train    where the run stands, as JSON: the trainer's record
 *                 (train/checkpoint.ts), carried here as it is
 *
 * Where checkpoints go in a run folder, and what the progress record holds,
 * is the trainer's business (train/checkpoint.ts).
 */
import { readFile } from 'node:fs/promises';
import { type AlaeConfig, resolveConfig, styleCount } from '../config/config.js';
import { AlaeError } from '../errors.js';
import { paramSpecs } from '../model/params.js';
import { f32, fromFloat32, parseSafetensors, readSafetensorsMetadata, serializeSafetensors, type SafeTensor } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'alae-checkpoint/1';

/** Adam's state at rest, per parameter name: step count and exp_avg_sq in our layout. */
export interface OptimizerState {
  [name: string]: { step: number; expAvgSq: Float32Array };
}

export interface OptimizerSnapshot {
  lr: number;
  state: OptimizerState;
}

/** A checkpoint's contents; `P` is the trainer's progress record (train/checkpoint.ts `TrainProgress`). */
export interface CheckpointContents<P = unknown> {
  config: AlaeConfig;
  trained: Map<string, Float32Array>;
  averaged: Map<string, Float32Array>;
  encoder: OptimizerSnapshot;
  decoder: OptimizerSnapshot;
  progress: P;
}

function shapesOf(config: AlaeConfig): Map<string, number[]> {
  const shapes = new Map(paramSpecs(config.model).map((s) => [s.name, s.shape]));
  shapes.set('dlatent_avg.buff', [styleCount(config.model), config.model.latentSize]);
  return shapes;
}

/** The bytes of a checkpoint file. */
export function encodeCheckpointFile(c: CheckpointContents): Uint8Array {
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

/** The config and the progress record of a checkpoint's metadata (`format` already checked). */
function headerOf(metadata: Record<string, string>, file: string): { config: AlaeConfig; progress: unknown } {
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
  const progress = parseJson<unknown>(metadata, 'alae.train', file);
  if (typeof progress !== 'object' || progress === null || Array.isArray(progress)) throw new AlaeError('bad training state in the checkpoint', file);
  return { config, progress };
}

/** Parse and check checkpoint bytes (every tensor shape, both directions). */
export function decodeCheckpointFile(bytes: Uint8Array, file: string): CheckpointContents {
  const { tensors, metadata } = parseSafetensors(bytes, file);
  const { config, progress } = headerOf(metadata, file);
  const adam = parseJson<Record<'encoder' | 'decoder', { lr: number; steps: Record<string, number> }>>(metadata, 'alae.adam', file);
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
    const state: OptimizerState = {};
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

/** Read and check a checkpoint file. */
export async function readCheckpointFile(file: string): Promise<CheckpointContents> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new AlaeError(`cannot read checkpoint (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  return decodeCheckpointFile(bytes, file);
}

/** A checkpoint's config and progress record from its header alone, without reading its tensors. */
export async function readCheckpointHeader(file: string): Promise<{ config: AlaeConfig; progress: unknown }> {
  return headerOf(await readSafetensorsMetadata(file), file);
}
