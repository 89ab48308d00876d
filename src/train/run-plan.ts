/**
 * What a training invocation starts from, decided before any model is
 * built: a new run (fresh weights or `init` weights), a run of ours
 * continued from its checkpoint (optionally with a new schedule), or a
 * reference run continued from its model_*.pth. `planRun` reads what it
 * needs once, applies every rule `alae train` applies, and checks the run
 * folder (run-folder.ts); `Trainer.open(plan, session)` builds from it.
 *
 *   const plan = await planRun({ outDir: 'run', resume: true, config: resolveConfig('mnist') });
 *   const data = await openRunData('mnist', plan);
 *   const t = await Trainer.open(plan, { dataset: data, outDir: plan.outDir });
 *
 * Resuming with a new schedule: a run may take the schedule of a given
 * config (its trainEpochs, learning rates and decay, report and snapshot
 * ticks: SCHEDULE_KEYS) only where it describes the run's past as it was:
 * the same architecture, the same settings outside SCHEDULE_KEYS (so the
 * same levels and batches) and the same learning rate in every epoch
 * already begun. The checkpoint's config is rewritten to the new schedule
 * (then `trainEpochs`, when given), so it stays a true record of the run.
 */
import { existsSync } from 'node:fs';
import { type AlaeConfig, resolutionOf } from '../config/config.js';
import { AlaeError } from '../errors.js';
import { openDataset, type OpenDatasetOptions } from '../data/open.js';
import type { ImageDataset } from '../data/dataset.js';
import { isReferenceCheckpoint, openWeights } from '../io/open.js';
import { type CheckpointData, findCheckpoint, readCheckpoint } from './checkpoint.js';
import { readReferenceStart, type ReferenceStart } from './reference.js';
import { learningRate, lodForEpoch } from './schedule.js';
import { checkRunFolder, runFolderOf } from './run-folder.js';

export interface RunRequest {
  /** The run folder: checkpoints/, latest, samples/, metrics.jsonl, model.safetensors, skipped-files.txt. */
  outDir: string;
  /**
   * The config given: a new run's config; on resume, a new schedule for
   * the run (see the module doc); for a reference .pth, the schedule to
   * continue with (its architecture must match the file's).
   */
  config?: AlaeConfig;
  /** For a reference .pth without `config`: the preset it must match (default: inferred from its shapes). */
  preset?: string;
  /**
   * Continue a run: a checkpoint file, a run folder (its `latest`), or a
   * reference model_*.pth. `true`: the run in `outDir`, or a new run there
   * when it holds none and `config` is given.
   */
  resume?: string | true;
  /** Start a new run from the weights of a checkpoint, model file or reference .pth (fresh optimizers). */
  init?: string;
  /** On resume of a run of ours: train this many epochs in all (more than the run's current epoch). */
  trainEpochs?: number;
  /** Images per epoch (default: the dataset's training images); a resumed run keeps its own. */
  epochImages?: number;
  /** Seed of everything random in a new run (default 0). */
  seed?: number;
}

/** Trained and averaged weights to start a new run from (`init`). */
export interface InitWeights {
  file: string;
  config: AlaeConfig;
  trained: Map<string, Float32Array>;
  averaged: Map<string, Float32Array>;
}

interface PlanBase {
  outDir: string;
  /** The config the run trains with. */
  config: AlaeConfig;
}

export type RunPlan =
  | (PlanBase & { kind: 'new'; seed?: number; epochImages?: number; init: InitWeights | null })
  | (PlanBase & { kind: 'resume'; file: string; checkpoint: CheckpointData })
  | (PlanBase & { kind: 'reference'; file: string; start: ReferenceStart; seed?: number; epochImages?: number });

/** Train settings a resumed run may take anew: how long it runs, its learning rates from now on, its report ticks. */
export const SCHEDULE_KEYS: ReadonlySet<string> = new Set(['trainEpochs', 'learningRates', 'baseLearningRate', 'learningDecaySteps', 'learningDecayRate', 'reportKimg', 'snapshotKimg']);

/** Same networks? (maxChannels is left out: an imported file only shows its effective value; the weights' shapes are checked on load.) */
export function sameArchitecture(a: AlaeConfig, b: AlaeConfig): boolean {
  const k = ['layerCount', 'startChannels', 'latentSize', 'mappingLayers', 'channels'] as const;
  return k.every((x) => a.model[x] === b.model[x]);
}

/**
 * Throws unless `given` describes the run's past as it was (see the
 * module doc): `epochsDone` epochs begun, `file` named in the error.
 */
export function checkSchedulePast(given: AlaeConfig, run: AlaeConfig, epochsDone: number, file: string): void {
  if (!sameArchitecture(given, run)) throw new AlaeError('the given config describes another architecture than the checkpoint (a resumed run keeps its own)', file);
  const a = given.train as unknown as Record<string, unknown>;
  const b = run.train as unknown as Record<string, unknown>;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!SCHEDULE_KEYS.has(k) && JSON.stringify(a[k]) !== JSON.stringify(b[k])) {
      throw new AlaeError(`the given config sets train.${k} to ${JSON.stringify(a[k])} where the run has ${JSON.stringify(b[k])}; a resumed run can take a new schedule only (${[...SCHEDULE_KEYS].join(', ')})`, file);
    }
  }
  for (let e = 0; e < epochsDone; e++) {
    const lod = lodForEpoch(e, run.train, run.model.layerCount);
    const was = learningRate(e, lod, run.train);
    const now = learningRate(e, lod, given.train);
    if (was !== now) {
      throw new AlaeError(`the given config gives epoch ${e} learning rate ${now} where the run trained at ${was}; a new schedule may only change epochs from ${epochsDone} on`, file);
    }
  }
}

/**
 * The checkpoint's config with the new schedule: `given`'s (checked by
 * checkSchedulePast), then `trainEpochs`. Changes `ck.config` in place and
 * returns it.
 */
export function continueWithSchedule(ck: CheckpointData, file: string, given?: AlaeConfig, trainEpochs?: number): AlaeConfig {
  const p = ck.progress;
  if (trainEpochs !== undefined && !(Number.isInteger(trainEpochs) && trainEpochs > p.epoch)) {
    throw new AlaeError(`a schedule of ${trainEpochs} epochs in all: the run is already in epoch ${p.epoch} (give more than ${p.epoch})`, file);
  }
  if (given) checkSchedulePast(given, ck.config, p.epoch + (p.imagesIntoEpoch > 0 ? 1 : 0), file);
  ck.config = { ...ck.config, train: { ...(given ?? ck.config).train, ...(trainEpochs !== undefined && { trainEpochs }) } };
  return ck.config;
}

/** Trained and averaged weights of a reference .pth, a checkpoint of ours or a model file; a copy a reference .pth lacks starts as the other. */
export async function readInitWeights(file: string): Promise<InitWeights> {
  const w = await openWeights(file);
  const trained = w.trained ?? new Map(w.averaged!);
  return { file, config: w.config, trained, averaged: new Map(w.averaged ?? trained) };
}

/** Decide what a run starts from and check everything that can be checked before a model is built. */
export async function planRun(req: RunRequest): Promise<RunPlan> {
  const { outDir, config: given } = req;
  if (req.resume !== undefined && req.init) throw new AlaeError('resume and init exclude each other');
  if (req.resume === undefined && req.trainEpochs !== undefined) throw new AlaeError('trainEpochs is for resuming a run (a new run takes it from its config)');
  if (req.resume === undefined) {
    if (!given) throw new AlaeError('a new run needs a config (a preset or a config file)');
    await checkRunFolder(outDir);
    let init: InitWeights | null = null;
    if (req.init) {
      init = await readInitWeights(req.init);
      if (!sameArchitecture(init.config, given)) throw new AlaeError(`the weights are for another architecture than ${given.name}`, req.init);
    }
    return { kind: 'new', outDir, config: given, seed: req.seed, epochImages: req.epochImages, init };
  }

  const from = req.resume === true ? outDir : req.resume;
  if (await isReferenceCheckpoint(from)) {
    await checkRunFolder(outDir);
    const start = await readReferenceStart(from, { preset: given ? undefined : req.preset, config: given });
    if (req.trainEpochs !== undefined) throw new AlaeError('trainEpochs applies to runs of ours; give a config with the schedule to continue a reference run with', from);
    return { kind: 'reference', outDir, config: start.config, file: from, start, seed: req.seed, epochImages: req.epochImages };
  }
  // `resume: true` on a folder that does not exist yet: nothing to continue.
  const file = req.resume === true && !existsSync(outDir) ? null : await findCheckpoint(from);
  if (!file) {
    if (req.resume !== true) throw new AlaeError('no checkpoint to resume from (no `latest` in this folder)', from);
    if (!given) throw new AlaeError('nothing to resume here yet: give a config to start the run', outDir);
    return planRun({ ...req, resume: undefined });
  }
  await checkRunFolder(outDir, runFolderOf(file) ?? (req.resume === true ? outDir : null));
  const checkpoint = await readCheckpoint(file);
  if (req.epochImages !== undefined && req.epochImages !== checkpoint.progress.epochImages) {
    throw new AlaeError(`epoch images ${req.epochImages} differ from the run's ${checkpoint.progress.epochImages}; a resumed run keeps its schedule`, file);
  }
  const config = continueWithSchedule(checkpoint, file, given, req.trainEpochs);
  return { kind: 'resume', outDir, config, file, checkpoint };
}

/** The dataset a planned run trains on: its channels, and images smaller than its resolution left out (named in `skipped`). */
export function openRunData(spec: string, plan: Pick<RunPlan, 'config'>, opts: Omit<OpenDatasetOptions, 'channels' | 'minResolution'> = {}): Promise<ImageDataset> {
  return openDataset(spec, { ...opts, channels: plan.config.model.channels, minResolution: resolutionOf(plan.config.model) });
}
