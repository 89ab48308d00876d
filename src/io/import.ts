/**
 * Import of the reference implementation's checkpoints (`model_*.pth`,
 * written by its Checkpointer): `{'models': {name: state_dict}, 'auxiliary':
 * {...}}`.
 *
 * What loads is what the reference's own loader (checkpointer.py
 * `Checkpointer.load`) loads: each network it finds under 'models', skipping
 * one that is missing or saved as None, and 'auxiliary' (optimizers,
 * scheduler) only when the file has that entry. So a file may hold the
 * averaged networks alone (`*_s`: what inference uses, as in the published
 * weights), the trained ones alone, either with or without `dlatent_avg`,
 * with or without 'auxiliary'. A copy, trained or averaged, is usable when
 * all four of its networks are there; the architecture is inferred from a
 * usable copy and every network present must fit it. Entries the reference
 * does not load are ignored, as it ignores them.
 *
 * The name map is explicit: each of our parameters (params.ts) comes from
 * `<checkpoint model>.<same key>` with the layout change its spec lists;
 * within a network every key and every shape is checked, in both directions.
 * `readReferenceContents` does all the checks that need no tensor data
 * from the file's header alone (what `alae info` shows).
 */
import { type AlaeConfig, type ModelConfig, PRESET_NAMES, resolveConfig, styleCount } from '../config/config.js';
import { AlaeError } from '../errors.js';
import type { NetworkName, ParamSpec } from '../model/lreq.js';
import { CHECKPOINT_NAMES, NETWORKS, bufferSpecs, paramSpecs } from '../model/params.js';
import type { OptimizerState } from './checkpoint-file.js';
import { fromTorchLayout } from './layout.js';
import { PickleDict, pickleGet, pyTypeName, type PickleValue } from './pickle.js';
import { loadTorchCheckpoint, readTorchCheckpointHeader, scalarToNumber, tensorToFloat32, TorchTensor } from './pth.js';

/** One tensor as the checkpoint holds it (PyTorch layout). */
export interface RawTensor {
  shape: number[];
  data: Float32Array;
}

/** The reference keeps two copies of the networks: the trained ones and their moving average (`*_s`). */
export type NetworkCopy = 'trained' | 'averaged';
const SUFFIX: Record<NetworkCopy, string> = { trained: '', averaged: '_s' };
const DLATENT_AVG = 'dlatent_avg';

/** The name under 'models' of one network of one copy. */
export function referenceName(net: NetworkName, copy: NetworkCopy): string {
  return CHECKPOINT_NAMES[net] + SUFFIX[copy];
}

/** Where the file keeps a parameter of one copy: `generator_s.const` for our `decoder.const`. */
function referenceKey(p: ParamSpec, copy: NetworkCopy): string {
  return `${referenceName(p.network, copy)}.${p.name.slice(p.network.length + 1)}`;
}

/** The networks in train_alae.py's order (its model_dict): E, G, D, F. */
const SAVED_ORDER: readonly NetworkName[] = ['encoder', 'decoder', 'mapping_d', 'mapping_f'];

/** The entries under 'models' that train_alae.py saves and loads, in its order. */
const REFERENCE_MODELS: readonly string[] = [
  ...SAVED_ORDER.map((n) => referenceName(n, 'trained')),
  DLATENT_AVG,
  ...SAVED_ORDER.map((n) => referenceName(n, 'averaged')),
];

/** The auxiliary states train_alae.py restores, by name. */
const AUXILIARY = ['encoder_optimizer', 'decoder_optimizer', 'scheduler', 'tracker'] as const;

export interface ModelEntry {
  /** Its name under 'models', e.g. 'generator_s'. */
  name: string;
  /** 'None': saved as None, which the reference skips with a warning. */
  state: 'present' | 'None' | 'absent';
  /** Values of its tensors as stored (buffers included); 0 unless present. */
  values: number;
  /** Values that are parameters of the architecture (dlatent_avg: its values); null when the architecture is unknown. */
  params: number | null;
}

export interface AuxiliaryEntry {
  name: (typeof AUXILIARY)[number];
  /** Optimizers: the parameters with a state. */
  states?: number;
  /** Scheduler: the epoch it stands at. */
  epoch?: number;
}

/** What a reference checkpoint holds, and whether and as what it imports. */
export interface ReferenceContents {
  /** The entries of REFERENCE_MODELS, in that order. */
  models: ModelEntry[];
  /** Entries the reference does not load (`models['x']`, `auxiliary['y']`), ignored here too. */
  ignored: string[];
  /** Which copies are complete (all four networks present). */
  copies: Record<NetworkCopy, boolean>;
  /** The auxiliary states the reference would restore; null when the file has no 'auxiliary' (it restores none). */
  auxiliary: AuxiliaryEntry[] | null;
  /** The scheduler's epoch, where train_alae.py continues; null without one. */
  epoch: number | null;
  /** The architecture, inferred from a complete copy; null when the file does not import, with `problem` saying why. */
  config: AlaeConfig | null;
  problem: string | null;
}

export interface ReferenceCheckpoint {
  file: string;
  config: AlaeConfig;
  contents: ReferenceContents;
  /**
   * The averaged networks (`*_s`) + dlatent_avg, our layout: what inference
   * uses. null when the file lacks a complete averaged copy. Without
   * `dlatent_avg` in the file, `dlatent_avg.buff` is zeros, the reference's
   * initial value (truncation then pulls w toward 0).
   */
  averaged: Map<string, Float32Array> | null;
  /** The trained networks + dlatent_avg, our layout: what training resumes from; null when absent. */
  trained: Map<string, Float32Array> | null;
  /** LREQAdam state of the optimizers, our names and layout (one absent: {}); null if there is none. */
  optimizers: { encoder: OptimizerState; decoder: OptimizerState } | null;
  /** Every model tensor as stored, by `<model>.<key>` (e.g. `generator_s.const`). */
  raw: Map<string, RawTensor>;
}

function isTensor(v: PickleValue | undefined): v is TorchTensor {
  return v instanceof TorchTensor;
}

function dictOf(v: PickleValue | undefined, what: string, file: string): PickleDict {
  if (!(v instanceof PickleDict)) throw new AlaeError(`${what} is ${v === undefined ? 'missing' : `a ${pyTypeName(v)}, not a dict`}`, file);
  return v;
}

/** A problem that keeps the file from importing; `readReferenceContents` reports it, `importCheckpoint` throws it. */
class Unfit extends Error {}

/** Infer the architecture from the state dict shapes (`<model>.<key>` -> shape, trained names). */
export function inferModelConfig(shapes: ReadonlyMap<string, number[]>, file = 'checkpoint'): ModelConfig {
  try {
    return inferArchitecture(shapes);
  } catch (e) {
    throw e instanceof Unfit ? new AlaeError(e.message, file) : e;
  }
}

function inferArchitecture(shapes: ReadonlyMap<string, number[]>): ModelConfig {
  const get = (k: string): number[] => {
    const s = shapes.get(k);
    if (!s) throw new Unfit(`cannot infer the architecture: no tensor ${k}`);
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
  return resolveConfig({ model: { layerCount, startChannels, maxChannels, latentSize, mappingLayers, channels } }).model;
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

/** The checkpoint's entries as read: the state dicts present, and their description. */
interface Scan {
  top: PickleDict;
  dicts: Map<string, PickleDict>;
  contents: ReferenceContents;
  /** The blur kernels present (`<model>.<key>`), found by checkShapes: fixed values, checked on import. */
  blur: string[];
}

/**
 * The auxiliary state `name` as Checkpointer.load finds it: only when the
 * file has an 'auxiliary' entry; from there, overridden by
 * `optimizers[name]`, overridden by a top-level `name`.
 */
function auxiliaryItem(top: PickleDict, name: string): PickleValue | undefined {
  if (!top.has('auxiliary')) return undefined;
  for (const v of [top.get(name), pickleGet(top, 'optimizers', name), pickleGet(top, 'auxiliary', name)]) if (v !== undefined && v !== null) return v;
  return undefined;
}

/** `last_epoch` of the reference's ComboMultiStepLR state (one per optimizer, which must agree), if present. */
function schedulerEpoch(sch: PickleValue | undefined, file: string): number | null {
  if (!(sch instanceof PickleDict)) return null;
  const epochs: number[] = [];
  for (const [, s] of sch) if (s instanceof PickleDict && s.has('last_epoch')) epochs.push(scalarToNumber(s.get('last_epoch'), file));
  if (epochs.length === 0) return null;
  // ComboMultiStepLR.load_state_dict asserts that its schedulers agree.
  if (epochs.some((e) => e !== epochs[0]) || !Number.isInteger(epochs[0]) || epochs[0] < 0) {
    throw new AlaeError(`the scheduler state is inconsistent (last_epoch ${epochs.join(', ')})`, file);
  }
  return epochs[0];
}

function scan(root: PickleValue, file: string): Scan {
  const top = dictOf(root, 'the checkpoint', file);
  const models = dictOf(top.get('models'), "the checkpoint's 'models'", file);
  const dicts = new Map<string, PickleDict>();
  const ignored: string[] = [];
  const entries = new Map<string, ModelEntry>(REFERENCE_MODELS.map((name) => [name, { name, state: 'absent', values: 0, params: null }]));
  for (const [key, value] of models) {
    const name = String(key);
    const entry = entries.get(name);
    if (!entry) {
      ignored.push(`models['${name}']`);
      continue;
    }
    if (value === null) {
      entry.state = 'None';
      continue;
    }
    const dict = dictOf(value, `models['${name}']`, file);
    for (const [k, t] of dict) {
      if (!isTensor(t)) throw new AlaeError(`models['${name}']['${String(k)}'] is a ${pyTypeName(t)}, not a tensor`, file);
      entry.values += t.numel;
    }
    entry.state = 'present';
    dicts.set(name, dict);
  }
  const complete = (copy: NetworkCopy): boolean => NETWORKS.every((n) => dicts.has(referenceName(n, copy)));
  let auxiliary: AuxiliaryEntry[] | null = null;
  let epoch: number | null = null;
  if (top.has('auxiliary')) {
    auxiliary = [];
    for (const name of AUXILIARY) {
      const item = auxiliaryItem(top, name);
      if (item === undefined) continue;
      const entry: AuxiliaryEntry = { name };
      const state = pickleGet(item, 'state');
      if (name.endsWith('_optimizer') && state instanceof PickleDict) entry.states = state.size;
      if (name === 'scheduler') {
        epoch = schedulerEpoch(item, file);
        if (epoch !== null) entry.epoch = epoch;
      }
      auxiliary.push(entry);
    }
    const aux = top.get('auxiliary');
    if (aux instanceof PickleDict) for (const k of aux.keys()) if (!(AUXILIARY as readonly PickleValue[]).includes(k)) ignored.push(`auxiliary['${String(k)}']`);
  }
  const contents: ReferenceContents = {
    models: [...entries.values()],
    ignored,
    copies: { trained: complete('trained'), averaged: complete('averaged') },
    auxiliary,
    epoch,
    config: null,
    problem: null,
  };
  return { top, dicts, contents, blur: [] };
}

/**
 * What the file lacks of a copy, as the end of a sentence starting with the
 * file's name: "holds no trained networks", "holds an incomplete averaged
 * copy (mapping_tl_s is None, generator_s is missing)".
 */
export function copyGap(contents: ReferenceContents, copy: NetworkCopy): string {
  const names = NETWORKS.map((n) => referenceName(n, copy));
  const byName = new Map(contents.models.map((m) => [m.name, m]));
  const gaps = names.filter((n) => byName.get(n)?.state !== 'present');
  if (gaps.length === names.length) return `holds no ${copy} networks`;
  return `holds an incomplete ${copy} copy (${gaps.map((n) => `${n} is ${byName.get(n)?.state === 'None' ? 'None' : 'missing'}`).join(', ')})`;
}

/** The file's shapes of a copy's four networks, by trained names (`generator.const`), for inferModelConfig. */
function copyShapes(dicts: Map<string, PickleDict>, copy: NetworkCopy): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const n of NETWORKS) {
    for (const [k, t] of dicts.get(referenceName(n, copy)) ?? []) shapes.set(`${CHECKPOINT_NAMES[n]}.${String(k)}`, [...(t as TorchTensor).shape]);
  }
  return shapes;
}

/** The architecture of a complete copy, checked against `preset` when given. */
function configOf(s: Scan, preset: string | undefined): AlaeConfig {
  const copy = s.contents.copies.averaged ? 'averaged' : s.contents.copies.trained ? 'trained' : null;
  if (!copy) {
    throw new Unfit(`no complete set of networks to import: the file ${copyGap(s.contents, 'averaged')} and ${copyGap(s.contents, 'trained')} (the reference's loader would leave those networks at their random initial weights)`);
  }
  const inferred = inferArchitecture(copyShapes(s.dicts, copy));
  if (preset) {
    const config = resolveConfig(preset);
    const p = config.model;
    const mismatch = (['layerCount', 'startChannels', 'latentSize', 'mappingLayers', 'channels'] as const).filter((k) => p[k] !== inferred[k]);
    if (mismatch.length) throw new Unfit(`the checkpoint does not fit preset '${preset}': ${mismatch.map((k) => `${k} ${p[k]} in the preset, ${inferred[k]} in the file`).join('; ')}`);
    return config;
  }
  const name = matchPreset(inferred);
  return name ? resolveConfig(name) : resolveConfig({ name: 'imported', model: inferred });
}

/** Every network present must fit the architecture: each parameter there with its shape, nothing else but the blur buffers. */
function checkShapes(s: Scan, config: AlaeConfig): void {
  const specs = paramSpecs(config.model);
  const buffers = bufferSpecs(config.model);
  const unknown: string[] = [];
  for (const entry of s.contents.models) {
    const dict = s.dicts.get(entry.name);
    if (!dict) continue;
    // Keys of this entry's parameters and of its optional buffers, with their shapes.
    const net = NETWORKS.find((n) => entry.name === referenceName(n, 'trained') || entry.name === referenceName(n, 'averaged'));
    const prefix = `${net ?? DLATENT_AVG}.`; // our names: `decoder.const`, `dlatent_avg.buff`
    const ofNet = (name: string): string | null => (name.startsWith(prefix) ? name.slice(prefix.length) : null);
    const want = new Map<string, number[]>();
    for (const p of specs) {
      const k = ofNet(p.name);
      if (k !== null) want.set(k, p.torchShape);
    }
    const optional = new Map<string, number[]>();
    for (const b of buffers) {
      const k = ofNet(b.name);
      if (k !== null) (b.kind === 'blur' ? optional : want).set(k, b.torchShape);
    }
    let params = 0;
    for (const [k, t] of dict) {
      const key = String(k);
      const shape = want.get(key) ?? optional.get(key);
      if (!shape) {
        unknown.push(`${entry.name}.${key}`);
        continue;
      }
      const found = (t as TorchTensor).shape;
      if (found.join(',') !== shape.join(',')) throw new Unfit(`${entry.name}.${key}: expected shape [${shape}], found [${found}]`);
      if (want.has(key)) params += (t as TorchTensor).numel;
      else s.blur.push(`${entry.name}.${key}`);
    }
    for (const [k, shape] of want) if (!dict.has(k)) throw new Unfit(`missing tensor ${entry.name}.${k} (expected shape [${shape}])`);
    entry.params = params;
  }
  if (unknown.length) throw new Unfit(`${unknown.length} tensors do not belong to a ${config.name} model: ${unknown.slice(0, 4).join(', ')}${unknown.length > 4 ? ', ...' : ''}`);
}

/** Fill in `config` (or `problem`): everything that can be checked from the tensors' shapes. */
function inspect(s: Scan, preset: string | undefined): ReferenceContents {
  try {
    const config = configOf(s, preset);
    checkShapes(s, config);
    s.contents.config = config;
  } catch (e) {
    // An inferred architecture that resolveConfig refuses is the file's problem too.
    if (!(e instanceof Unfit) && !(e instanceof AlaeError && !e.file)) throw e;
    s.contents.problem = e.message;
  }
  return s.contents;
}

export interface ReferenceHeader {
  contents: ReferenceContents;
  format: 'zip' | 'legacy';
  /** Bytes read from the file: its header, not its tensors. */
  bytesRead: number;
}

/** What a reference checkpoint holds and whether it imports, from its header alone (no tensor data is read). */
export async function readReferenceContents(file: string, opts: { preset?: string } = {}): Promise<ReferenceHeader> {
  const header = await readTorchCheckpointHeader(file);
  return { contents: inspect(scan(header.value, file), opts.preset), format: header.format, bytesRead: header.bytesRead };
}

/** The reference's fixed blur kernel, [1,2,1]x[1,2,1]/16 per channel. */
const BLUR = [1, 2, 1, 2, 4, 2, 1, 2, 1].map((v) => Math.fround(v / 16));

/** Read a reference checkpoint. With `preset`, its architecture must match the file's. */
export async function importCheckpoint(file: string, opts: { preset?: string } = {}): Promise<ReferenceCheckpoint> {
  const s = scan(await loadTorchCheckpoint(file), file);
  const contents = inspect(s, opts.preset);
  if (!contents.config) throw new AlaeError(contents.problem ?? 'does not import', file);
  const config = contents.config;
  const raw = new Map<string, RawTensor>();
  for (const [name, dict] of s.dicts) for (const [k, t] of dict) raw.set(`${name}.${String(k)}`, { shape: [...(t as TorchTensor).shape], data: tensorToFloat32(t as TorchTensor) });
  for (const key of s.blur) if (raw.get(key)!.data.some((v, i) => v !== BLUR[i % 9])) throw new AlaeError(`${key} is not the reference's fixed blur kernel`, file);
  const dlatentAvg = raw.get(`${DLATENT_AVG}.buff`)?.data ?? new Float32Array(styleCount(config.model) * config.model.latentSize);
  const specs = paramSpecs(config.model);
  const take = (copy: NetworkCopy): Map<string, Float32Array> | null => {
    if (!contents.copies[copy]) return null;
    const out = new Map<string, Float32Array>();
    for (const p of specs) {
      const t = raw.get(referenceKey(p, copy))!;
      out.set(p.name, fromTorchLayout(t.data, t.shape, p.layout).data);
    }
    out.set('dlatent_avg.buff', dlatentAvg);
    return out;
  };
  const trained = take('trained');
  const optimizers = trained ? readOptimizers(s, specs, file) : null;
  return { file, config, contents, averaged: take('averaged'), trained, optimizers, raw };
}

/**
 * LREQAdam state: `state` maps an index to {step, exp_avg_sq}; indices count
 * through the optimizer's groups' parameters in state-dict order without
 * buffers (encoder then mapping_tl; generator then mapping_fl).
 */
function readOptimizers(s: Scan, specs: ReturnType<typeof paramSpecs>, file: string): ReferenceCheckpoint['optimizers'] {
  const byRef = new Map(specs.map((p) => [referenceKey(p, 'trained'), p]));
  const one = (optName: string, nets: NetworkName[]): OptimizerState | null => {
    const opt = auxiliaryItem(s.top, optName);
    if (!(opt instanceof PickleDict)) return null;
    const state = dictOf(opt.get('state'), `auxiliary['${optName}']['state']`, file);
    const params: string[] = [];
    for (const n of nets) {
      const m = referenceName(n, 'trained');
      for (const k of s.dicts.get(m)?.keys() ?? []) if (byRef.has(`${m}.${String(k)}`)) params.push(`${m}.${String(k)}`);
    }
    const out: OptimizerState = {};
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
  const encoder = one('encoder_optimizer', ['encoder', 'mapping_d']);
  const decoder = one('decoder_optimizer', ['decoder', 'mapping_f']);
  return encoder || decoder ? { encoder: encoder ?? {}, decoder: decoder ?? {} } : null;
}
