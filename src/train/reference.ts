/**
 * Continuing a run of the reference implementation from one of its
 * checkpoints (`model_*.pth`): weights, optimizer state and the epoch to
 * continue from (the scheduler's `last_epoch`, which is how train_alae.py
 * finds it: `scheduler.start_epoch()`) come from io/import.ts. The
 * reference keeps no position inside an epoch, so a run resumes at the start
 * of that epoch, as it would there.
 */
import type { AlaeConfig } from '../config/config.js';
import { AlaeError } from '../errors.js';
import { copyGap, importCheckpoint } from '../io/import.js';
import type { AdamStateArrays } from './lreq-adam.js';

export interface ReferenceStart {
  config: AlaeConfig;
  trained: Map<string, Float32Array>;
  averaged: Map<string, Float32Array>;
  optimizers: { encoder: AdamStateArrays; decoder: AdamStateArrays } | null;
  /** Epoch to continue from (scheduler last_epoch), 0 when the file has no scheduler state. */
  epoch: number;
}

/**
 * Read a reference checkpoint for training. With `config`, its architecture
 * must match the file's (the schedule comes from `config`); without, the
 * architecture is inferred and the matching preset's schedule is used.
 * The file must hold the trained networks; without the averaged ones they
 * start as a copy of the trained (the reference would start them at random);
 * without optimizer state the optimizers start afresh, and without
 * `dlatent_avg` the tracked average w starts at zero, as the reference's does.
 */
export async function readReferenceStart(file: string, opts: { preset?: string; config?: AlaeConfig } = {}): Promise<ReferenceStart> {
  const ck = await importCheckpoint(file, { preset: opts.preset });
  if (!ck.trained) {
    const gap = copyGap(ck.contents, 'trained');
    const optimizers = ck.contents.auxiliary?.some((a) => a.name.endsWith('_optimizer'));
    const holds = gap === 'holds no trained networks' && !optimizers ? 'holds no trained networks or optimizer state' : gap;
    throw new AlaeError(`${holds}; import it as a model instead (alae import), or start a new run from its weights (--init)`, file);
  }
  let config = ck.config;
  if (opts.config) {
    const a = opts.config.model;
    const b = ck.config.model;
    const keys = ['layerCount', 'startChannels', 'latentSize', 'mappingLayers', 'channels'] as const;
    const diff = keys.filter((k) => a[k] !== b[k]);
    if (diff.length) throw new AlaeError(`the checkpoint does not fit the config: ${diff.map((k) => `${k} ${a[k]} in the config, ${b[k]} in the file`).join('; ')}`, file);
    config = opts.config;
  }
  return { config, trained: ck.trained, averaged: ck.averaged ?? new Map(ck.trained), optimizers: ck.optimizers, epoch: ck.contents.epoch ?? 0 };
}
