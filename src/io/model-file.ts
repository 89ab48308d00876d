/**
 * Our own model format: one safetensors file (readable by Python's
 * safetensors) holding every parameter in our layout (NHWC/HWIO, named as
 * in params.ts) plus `dlatent_avg.buff`, with the config as JSON in the
 * header's metadata under `alae.config`. Written atomically.
 */
import { type AlaeConfig, resolveConfig } from '../config/config.js';
import { AlaeError } from '../errors.js';
import { AlaeModel } from '../model/alae.js';
import { paramSpecs } from '../model/params.js';
import { f32, fromFloat32, readSafetensors, serializeSafetensors, type SafeTensor } from './safetensors.js';
import { writeFileAtomic } from '../util/atomic.js';

export const MODEL_FORMAT = 'alae-model/1';

/** Serialize named arrays (our layout) with a config: the bytes of a model file. */
export function encodeModelFile(config: AlaeConfig, arrays: ReadonlyMap<string, Float32Array>, extraMetadata: Record<string, string> = {}): Uint8Array {
  const specs = new Map(paramSpecs(config.model).map((s) => [s.name, s.shape]));
  specs.set('dlatent_avg.buff', [2 * config.model.layerCount, config.model.latentSize]);
  const tensors = new Map<string, SafeTensor>();
  for (const [name, data] of arrays) {
    const shape = specs.get(name);
    if (!shape) throw new AlaeError(`model file: no parameter named ${name} in this config`);
    tensors.set(name, fromFloat32(shape, data));
  }
  return serializeSafetensors(tensors, { format: MODEL_FORMAT, 'alae.config': JSON.stringify(config), ...extraMetadata });
}

/** Save a model (its current weights) to `path` atomically. */
export async function saveModel(path: string, model: AlaeModel, extraMetadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(path, encodeModelFile(model.config, await model.toArrays(), extraMetadata));
}

export interface ModelFileContents {
  config: AlaeConfig;
  arrays: Map<string, Float32Array>;
  metadata: Record<string, string>;
}

/** Read and check a model file without creating tensors. */
export async function readModelFile(path: string): Promise<ModelFileContents> {
  const { tensors, metadata } = await readSafetensors(path);
  const raw = metadata['alae.config'];
  if (!raw) throw new AlaeError(`not an alae model: no 'alae.config' in the safetensors metadata`, path);
  let config: AlaeConfig;
  try {
    const parsed = JSON.parse(raw) as AlaeConfig;
    config = resolveConfig(parsed, { name: parsed.name });
  } catch (e) {
    throw new AlaeError(`bad model config: ${(e as Error).message}`, path);
  }
  const arrays = new Map<string, Float32Array>();
  const shapes = new Map(paramSpecs(config.model).map((s) => [s.name, s.shape]));
  shapes.set('dlatent_avg.buff', [2 * config.model.layerCount, config.model.latentSize]);
  for (const [name, t] of tensors) {
    const want = shapes.get(name);
    if (!want) throw new AlaeError(`tensor ${name} is not a parameter of this config`, path);
    if (t.shape.join(',') !== want.join(',')) throw new AlaeError(`${name}: expected shape [${want}], found [${t.shape}]`, path);
    arrays.set(name, f32(t));
  }
  return { config, arrays, metadata };
}

/** Load a model saved by saveModel. */
export async function loadModelFile(path: string): Promise<AlaeModel> {
  const { config, arrays } = await readModelFile(path);
  return AlaeModel.fromArrays(config, arrays, path);
}
