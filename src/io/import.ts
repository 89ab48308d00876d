/**
 * Import of the reference implementation's checkpoints (`model_*.pth`,
 * written by its Checkpointer): `{'models': {name: state_dict}, 'auxiliary':
 * {...}}`. The name map is explicit: each of our parameters (params.ts)
 * comes from `<checkpoint model>.<same key>` with the layout change its spec
 * lists; every key and every shape is checked, in both directions.
 */
import { type AlaeConfig, type ModelConfig, PRESETS, PRESET_NAMES, resolveConfig } from '../config/config.js';
import { AlaeError } from '../errors.js';
import type { NetworkName } from '../model/lreq.js';
import { CHECKPOINT_NAMES, NETWORKS, bufferSpecs, paramSpecs } from '../model/params.js';
import type { AdamStateArrays } from '../train/lreq-adam.js';
import { fromTorchLayout } from './layout.js';
import { PickleDict, type PickleValue } from './pickle.js';
import { loadTorchCheckpoint, scalarToNumber, tensorToFloat32, TorchTensor } from './pth.js';

/** One tensor as the checkpoint holds it (PyTorch layout). */
export interface RawTensor {
  shape: number[];
  data: Float32Array;
}

export interface ReferenceCheckpoint {
  file: string;
  config: AlaeConfig;
  /** The averaged networks (`*_s`) + dlatent_avg, our layout: what inference uses. */
  averaged: Map<string, Float32Array>;
  /** The trained networks + dlatent_avg, our layout: what training resumes from. */
  trained: Map<string, Float32Array>;
  /** LREQAdam state of both optimizers, our names and layout; null if absent. */
  optimizers: { encoder: AdamStateArrays; decoder: AdamStateArrays } | null;
  /** Every model tensor as stored, by `<model>.<key>` (e.g. `generator_s.const`). */
  raw: Map<string, RawTensor>;
}

function isTensor(v: PickleValue | undefined): v is TorchTensor {
  return v instanceof TorchTensor;
}

function dictOf(v: PickleValue | undefined, what: string, file: string): PickleDict {
  if (!(v instanceof PickleDict)) throw new AlaeError(`${what} is not a dict`, file);
  return v;
}

/** Infer the architecture from the state dict shapes (`<model>.<key>` -> shape). */
export function inferModelConfig(shapes: ReadonlyMap<string, number[]>, file = 'checkpoint'): ModelConfig {
  const get = (k: string): number[] => {
    const s = shapes.get(k);
    if (!s) throw new AlaeError(`cannot infer the architecture: no tensor ${k}`, file);
    return s;
  };
  const count = (re: RegExp): number => new Set([...shapes.keys()].map((k) => re.exec(k)?.[1]).filter((x) => x !== undefined)).size;
  const layerCount = count(/^generator\.decode_block\.(\d+)\./);
  const mappingLayers = count(/^mapping_fl\.map_blocks\.(\d+)\./);
  const [latentSize] = get('mapping_fl.map_blocks.0.fc.weight');
  const [channels] = get('generator.to_rgb.0.to_rgb.weight');
  const [startChannels] = get('discriminator.from_rgb.0.from_rgb.weight');
  // maxChannels is only visible where it caps a block; the widest block is the best bound.
  let maxChannels = 0;
  for (const [k, s] of shapes) if (/^discriminator\.encode_block\.\d+\.bias_2$/.test(k)) maxChannels = Math.max(maxChannels, s[1]);
  const base = resolveConfig({ model: { layerCount, startChannels, maxChannels, latentSize, mappingLayers, channels } }).model;
  return base;
}

/** The preset whose architecture matches, if any (maxChannels compared by effect). */
export function matchPreset(m: ModelConfig): string | null {
  for (const name of PRESET_NAMES) {
    if (name.startsWith('test-')) continue;
    const p = resolveConfig(name).model;
    const same = p.layerCount === m.layerCount && p.startChannels === m.startChannels && p.latentSize === m.latentSize && p.mappingLayers === m.mappingLayers && p.channels === m.channels;
    const widest = Math.min(p.maxChannels, p.startChannels * 2 ** p.layerCount);
    if (same && widest === m.maxChannels) return name;
  }
  return null;
}

/** Read a reference checkpoint. With `preset`, its architecture must match the file's. */
export async function importCheckpoint(file: string, opts: { preset?: string } = {}): Promise<ReferenceCheckpoint> {
  const root = await loadTorchCheckpoint(file);
  const top = dictOf(root, 'the checkpoint', file);
  const models = dictOf(top.get('models'), "the checkpoint's 'models'", file);
  const raw = new Map<string, RawTensor>();
  const order = new Map<string, string[]>(); // model -> parameter keys in state-dict order
  for (const [modelName, sd] of models) {
    const dict = dictOf(sd, `models['${String(modelName)}']`, file);
    const keys: string[] = [];
    for (const [k, v] of dict) {
      if (!isTensor(v)) throw new AlaeError(`models['${String(modelName)}']['${String(k)}'] is not a tensor`, file);
      raw.set(`${String(modelName)}.${String(k)}`, { shape: [...v.shape], data: tensorToFloat32(v) });
      keys.push(String(k));
    }
    order.set(String(modelName), keys);
  }
  const shapes = new Map([...raw].map(([k, t]) => [k, t.shape]));
  const inferred = inferModelConfig(shapes, file);
  let config: AlaeConfig;
  if (opts.preset) {
    config = resolveConfig(opts.preset);
    const p = config.model;
    const mismatch = (['layerCount', 'startChannels', 'latentSize', 'mappingLayers', 'channels'] as const).filter((k) => p[k] !== inferred[k]);
    if (mismatch.length) throw new AlaeError(`the checkpoint does not fit preset '${opts.preset}': ${mismatch.map((k) => `${k} ${p[k]} in the preset, ${inferred[k]} in the file`).join('; ')}`, file);
  } else {
    const preset = matchPreset(inferred);
    config = preset ? resolveConfig(preset) : resolveConfig({ name: 'imported', model: inferred });
  }

  const specs = paramSpecs(config.model);
  const buffers = bufferSpecs(config.model);
  const take = (suffix: '' | '_s'): Map<string, Float32Array> => {
    const out = new Map<string, Float32Array>();
    for (const s of specs) {
      const key = `${CHECKPOINT_NAMES[s.network]}${suffix}.${s.name.slice(s.network.length + 1)}`;
      const t = raw.get(key);
      if (!t) throw new AlaeError(`missing tensor ${key} (expected shape [${s.torchShape}])`, file);
      if (t.shape.join(',') !== s.torchShape.join(',')) throw new AlaeError(`${key}: expected shape [${s.torchShape}], found [${t.shape}]`, file);
      out.set(s.name, fromTorchLayout(t.data, t.shape, s.layout).data);
    }
    return out;
  };
  const present = new Set(order.keys());
  for (const net of NETWORKS) if (!present.has(CHECKPOINT_NAMES[net])) throw new AlaeError(`no '${CHECKPOINT_NAMES[net]}' model in the checkpoint`, file);
  const hasAveraged = NETWORKS.every((n) => present.has(`${CHECKPOINT_NAMES[n]}_s`));
  const trained = take('');
  const averaged = hasAveraged ? take('_s') : new Map(trained);

  // Buffers: the blur kernels are fixed, dlatent_avg is ours to keep.
  const blur = [1, 2, 1, 2, 4, 2, 1, 2, 1].map((v) => Math.fround(v / 16));
  for (const b of buffers) {
    const ref = b.name.replace(/^(encoder|decoder)\./, (m, net: NetworkName) => `${CHECKPOINT_NAMES[net as NetworkName]}.`).replace(/^dlatent_avg\./, 'dlatent_avg.');
    for (const suffix of b.kind === 'blur' ? (hasAveraged ? ['', '_s'] : ['']) : ['']) {
      const key = suffix ? ref.replace(/^(\w+)\./, `$1${suffix}.`) : ref;
      const t = raw.get(key);
      if (!t) throw new AlaeError(`missing tensor ${key} (expected shape [${b.torchShape}])`, file);
      if (t.shape.join(',') !== b.torchShape.join(',')) throw new AlaeError(`${key}: expected shape [${b.torchShape}], found [${t.shape}]`, file);
      if (b.kind === 'blur' && t.data.some((v, i) => v !== blur[i % 9])) throw new AlaeError(`${key} is not the reference's fixed blur kernel`, file);
      if (b.kind === 'dlatent_avg') {
        trained.set('dlatent_avg.buff', t.data);
        averaged.set('dlatent_avg.buff', t.data);
      }
    }
  }
  // Nothing may be left over: every tensor of the file is accounted for.
  const known = new Set<string>();
  for (const s of specs) for (const suffix of hasAveraged ? ['', '_s'] : ['']) known.add(`${CHECKPOINT_NAMES[s.network]}${suffix}.${s.name.slice(s.network.length + 1)}`);
  for (const b of buffers) {
    const ref = b.name.replace(/^(encoder|decoder)\./, (m, net: string) => `${CHECKPOINT_NAMES[net as NetworkName]}.`);
    known.add(ref);
    if (hasAveraged && b.kind === 'blur') known.add(ref.replace(/^(\w+)\./, '$1_s.'));
  }
  const unknown = [...raw.keys()].filter((k) => !known.has(k));
  if (unknown.length) throw new AlaeError(`${unknown.length} tensors do not belong to a ${config.name} model: ${unknown.slice(0, 4).join(', ')}${unknown.length > 4 ? ', ...' : ''}`, file);

  return { file, config, averaged, trained, optimizers: readOptimizers(top, order, specs, file), raw };
}

/**
 * LREQAdam state: `state` maps an index to {step, exp_avg_sq}; indices count
 * through the optimizer's groups' parameters in state-dict order without
 * buffers (encoder then mapping_tl; generator then mapping_fl).
 */
function readOptimizers(top: PickleDict, order: Map<string, string[]>, specs: ReturnType<typeof paramSpecs>, file: string): ReferenceCheckpoint['optimizers'] {
  const aux = top.get('auxiliary');
  if (!(aux instanceof PickleDict)) return null;
  const byRef = new Map(specs.map((s) => [`${CHECKPOINT_NAMES[s.network]}.${s.name.slice(s.network.length + 1)}`, s]));
  const one = (optName: string, models: string[]): AdamStateArrays | null => {
    const opt = aux.get(optName);
    if (!(opt instanceof PickleDict)) return null;
    const state = dictOf(opt.get('state'), `auxiliary['${optName}']['state']`, file);
    const params: string[] = [];
    for (const m of models) for (const k of order.get(m) ?? []) if (byRef.has(`${m}.${k}`)) params.push(`${m}.${k}`);
    const out: AdamStateArrays = {};
    for (const [idx, st] of state) {
      const i = Number(idx);
      if (!Number.isInteger(i) || i < 0 || i >= params.length) throw new AlaeError(`auxiliary['${optName}']: state index ${String(idx)} is outside the ${params.length} parameters`, file);
      const d = dictOf(st, `auxiliary['${optName}']['state'][${i}]`, file);
      const spec = byRef.get(params[i])!;
      const v = d.get('exp_avg_sq');
      if (!isTensor(v)) throw new AlaeError(`auxiliary['${optName}']['state'][${i}] has no exp_avg_sq tensor`, file);
      if (v.shape.join(',') !== spec.torchShape.join(',')) throw new AlaeError(`auxiliary['${optName}']['state'][${i}].exp_avg_sq: expected shape [${spec.torchShape}] of ${params[i]}, found [${v.shape}]`, file);
      const stepV = d.get('step');
      const step = isTensor(stepV) ? tensorToFloat32(stepV)[0] : scalarToNumber(stepV, file);
      if (!Number.isFinite(step) || step < 0) throw new AlaeError(`auxiliary['${optName}']['state'][${i}]: bad step ${String(stepV)}`, file);
      out[spec.name] = { step, expAvgSq: fromTorchLayout(tensorToFloat32(v), [...v.shape], spec.layout).data };
    }
    return out;
  };
  const encoder = one('encoder_optimizer', ['discriminator', 'mapping_tl']);
  const decoder = one('decoder_optimizer', ['generator', 'mapping_fl']);
  return encoder && decoder ? { encoder, decoder } : null;
}
