/**
 * Continuing a run of the reference implementation from one of its
 * checkpoints (`model_*.pth`): weights and optimizer state come from
 * io/import.ts; the epoch to continue from is the scheduler's `last_epoch`
 * in `auxiliary.scheduler`, which is how train_alae.py finds it
 * (`scheduler.start_epoch()`). The reference keeps no position inside an
 * epoch, so a run resumes at the start of that epoch, as it would there.
 */
import type { AlaeConfig } from '../config/config.js';
import { AlaeError } from '../errors.js';
import { importCheckpoint } from '../io/import.js';
import { PickleDict } from '../io/pickle.js';
import { loadTorchCheckpoint, scalarToNumber } from '../io/pth.js';
import type { AdamStateArrays } from './lreq-adam.js';

export interface ReferenceStart {
  config: AlaeConfig;
  trained: Map<string, Float32Array>;
  averaged: Map<string, Float32Array>;
  optimizers: { encoder: AdamStateArrays; decoder: AdamStateArrays } | null;
  /** Epoch to continue from (scheduler last_epoch), 0 when the file has no scheduler state. */
  epoch: number;
}

/** Is `file` a PyTorch checkpoint (by name)? */
export function isReferenceCheckpoint(file: string): boolean {
  return /\.(pth|pt|pkl)$/i.test(file);
}

/** Read `last_epoch` of the reference's ComboMultiStepLR state, if present. */
async function schedulerEpoch(file: string): Promise<number | null> {
  const root = await loadTorchCheckpoint(file);
  if (!(root instanceof PickleDict)) return null;
  const aux = root.get('auxiliary');
  if (!(aux instanceof PickleDict)) return null;
  const sch = aux.get('scheduler');
  if (!(sch instanceof PickleDict)) return null;
  const epochs: number[] = [];
  for (const [, s] of sch) {
    if (s instanceof PickleDict && s.has('last_epoch')) epochs.push(scalarToNumber(s.get('last_epoch'), file));
  }
  if (epochs.length === 0) return null;
  // ComboMultiStepLR.load_state_dict asserts that its schedulers agree.
  if (epochs.some((e) => e !== epochs[0]) || !Number.isInteger(epochs[0]) || epochs[0] < 0) {
    throw new AlaeError(`the scheduler state is inconsistent (last_epoch ${epochs.join(', ')})`, file);
  }
  return epochs[0];
}

/**
 * Read a reference checkpoint for training. With `config`, its architecture
 * must match the file's (the schedule comes from `config`); without, the
 * architecture is inferred and the matching preset's schedule is used.
 */
export async function readReferenceStart(file: string, opts: { preset?: string; config?: AlaeConfig } = {}): Promise<ReferenceStart> {
  const ck = await importCheckpoint(file, { preset: opts.preset });
  let config = ck.config;
  if (opts.config) {
    const a = opts.config.model;
    const b = ck.config.model;
    const keys = ['layerCount', 'startChannels', 'latentSize', 'mappingLayers', 'channels'] as const;
    const diff = keys.filter((k) => a[k] !== b[k]);
    if (diff.length) throw new AlaeError(`the checkpoint does not fit the config: ${diff.map((k) => `${k} ${a[k]} in the config, ${b[k]} in the file`).join('; ')}`, file);
    config = opts.config;
  }
  const epoch = (await schedulerEpoch(file)) ?? 0;
  return { config, trained: ck.trained, averaged: ck.averaged, optimizers: ck.optimizers, epoch };
}
