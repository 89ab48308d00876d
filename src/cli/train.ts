/**
 * `alae train`: train a model on a folder of images, MNIST or TFRecords,
 * resumably. In a terminal an ink dashboard shows the run; otherwise one
 * plain line per report (and per level change and checkpoint).
 *
 * SIGINT / SIGTERM: the current iteration finishes, a checkpoint is written
 * and the command exits 130 / 143. A second signal exits at once (the last
 * checkpoint on disk is complete: writes are atomic).
 */
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { parse, setupBackend } from './args.js';
import { type AlaeConfig, type DeepPartial, resolveConfig, resolutionOf } from '../config/config.js';
import { AlaeError } from '../errors.js';
import { openDataset } from '../data/open.js';
import type { ImageDataset } from '../data/dataset.js';
import { isReferenceCheckpoint, openWeights } from '../io/open.js';
import { type CheckpointData, findCheckpoint, readCheckpoint } from '../train/checkpoint.js';
import { readReferenceStart } from '../train/reference.js';
import { type IterationInfo, type SessionOptions, type TrainReport, Trainer } from '../train/trainer.js';
import { type Level, learningRate, lodForEpoch } from '../train/schedule.js';
import { type DashboardState, emptyDashboard, formatDuration } from '../tui/train-dashboard.js';

const USAGE = `usage: alae train --data <folder|mnist|files.tfrecords> --out <dir> (--preset <name> | --config <file.json>) [options]
       alae train --data <...> --out <dir> --resume [<checkpoint|run dir|model.pth>]

  --preset <name>        a preset (alae info <name> shows it)
  --config <file.json>   a config (partial AlaeConfig: {"model": {...}, "train": {...}}); with --preset, overrides it
  --data <spec>          image folder, 'mnist', or TFRecords (file, glob or %d pattern)
  --out <dir>            run folder: checkpoints/, latest, samples/, metrics.jsonl, model.safetensors
  --resume [<from>]      continue a run: a checkpoint, a run folder (default --out), or a reference
                         model_*.pth (its weights, optimizer state and epoch; the schedule from --preset/--config
                         or the matching preset). With --preset/--config, one of ours takes their schedule
                         (trainEpochs, learning rates and decay, report ticks) where it agrees with the epochs run
  --init <file>          start a new run from the weights of a checkpoint, model file or reference .pth
  --max-kimg <N>         stop after N thousand images in all (a final checkpoint and model are written)
  --train-epochs <N>     with --resume: train N epochs in all instead of the run's schedule (longer at the last level,
                         or stop sooner); the rest of the run's config is kept
  --seed <N>             seed of weights, sample order, z, noise and mixing (default 0)
  --report-kimg <N>      kimg between reports (default per level, as the reference's REPORT_FREQ)
  --snapshot-kimg <N>    kimg between checkpoints (default per level, as SNAPSHOT_FREQ)
  --epoch-images <N>     images per epoch (default: the dataset's size)
  --cache-dir <dir>      where an image folder's decoded cache goes (default <folder>/.alae-cache)
  --no-samples           do not write sample grids
  --plain                plain lines even in a terminal
  --verbose              (plain) a line per iteration too
  --backend <name>       auto|tensorflow-gpu|tensorflow|webgpu|native|wasm|cpu (or ALAE_BACKEND)
`;

const OPTIONS = {
  preset: { type: 'string' as const },
  config: { type: 'string' as const },
  data: { type: 'string' as const },
  out: { type: 'string' as const, short: 'o' },
  resume: { type: 'string' as const },
  init: { type: 'string' as const },
  'max-kimg': { type: 'string' as const },
  'train-epochs': { type: 'string' as const },
  seed: { type: 'string' as const },
  'report-kimg': { type: 'string' as const },
  'snapshot-kimg': { type: 'string' as const },
  'epoch-images': { type: 'string' as const },
  'cache-dir': { type: 'string' as const },
  'no-samples': { type: 'boolean' as const },
  plain: { type: 'boolean' as const },
  verbose: { type: 'boolean' as const },
  backend: { type: 'string' as const },
};

/** A bare `--resume` (last, or followed by another option) means "the run in --out". */
export function normalizeResume(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--resume' && (i + 1 >= argv.length || argv[i + 1].startsWith('--'))) out.push('--resume=');
    else out.push(argv[i]);
  }
  return out;
}

function number(v: string | undefined, name: string, check: (x: number) => boolean, what: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x) || !check(x)) throw new AlaeError(`--${name} must be ${what} (got '${v}')`);
  return x;
}

async function readConfigFile(file: string): Promise<DeepPartial<AlaeConfig>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new AlaeError(`cannot read config (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as DeepPartial<AlaeConfig>;
  } catch (e) {
    throw new AlaeError(`not a config: ${(e as Error).message}`, file);
  }
}

async function configFrom(preset: string | undefined, file: string | undefined): Promise<AlaeConfig | null> {
  if (!preset && !file) return null;
  const overrides = file ? await readConfigFile(file) : {};
  try {
    return preset ? resolveConfig(preset, overrides) : resolveConfig(overrides);
  } catch (e) {
    if (e instanceof AlaeError && file && !e.file) throw new AlaeError(e.message, file);
    throw e;
  }
}

/** Trained and averaged weights to start from (--init): a copy a reference .pth lacks starts as the other. */
async function initWeights(file: string): Promise<{ config: AlaeConfig; trained: Map<string, Float32Array>; averaged: Map<string, Float32Array> }> {
  const w = await openWeights(file);
  const trained = w.trained ?? new Map(w.averaged!);
  return { config: w.config, trained, averaged: new Map(w.averaged ?? trained) };
}

/** Same networks? (maxChannels is left out: an imported file only shows its effective value; the weights' shapes are checked on load.) */
function sameArchitecture(a: AlaeConfig, b: AlaeConfig): boolean {
  const k = ['layerCount', 'startChannels', 'latentSize', 'mappingLayers', 'channels'] as const;
  return k.every((x) => a.model[x] === b.model[x]);
}

/** Train settings a resumed run may take anew: how long it runs, its learning rates from now on, its report ticks. */
const SCHEDULE_KEYS = new Set(['trainEpochs', 'learningRates', 'baseLearningRate', 'learningDecaySteps', 'learningDecayRate', 'reportKimg', 'snapshotKimg']);

/**
 * A resumed run may take the schedule of --preset/--config only where it
 * describes the run's past as it was: the same settings outside
 * SCHEDULE_KEYS (so the same levels and batches) and the same learning rate
 * in every epoch already begun (`epochsDone`), so the checkpoint's config
 * stays a true record of the run.
 */
function checkSchedulePast(given: AlaeConfig, run: AlaeConfig, epochsDone: number, file: string): void {
  const a = given.train as unknown as Record<string, unknown>;
  const b = run.train as unknown as Record<string, unknown>;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!SCHEDULE_KEYS.has(k) && JSON.stringify(a[k]) !== JSON.stringify(b[k])) {
      throw new AlaeError(`--preset/--config set train.${k} to ${JSON.stringify(a[k])} where the run has ${JSON.stringify(b[k])}; a resumed run can take a new schedule only (${[...SCHEDULE_KEYS].join(', ')})`, file);
    }
  }
  for (let e = 0; e < epochsDone; e++) {
    const lod = lodForEpoch(e, run.train, run.model.layerCount);
    const was = learningRate(e, lod, run.train);
    const now = learningRate(e, lod, given.train);
    if (was !== now) {
      throw new AlaeError(`--preset/--config give epoch ${e} learning rate ${now} where the run trained at ${was}; a new schedule may only change epochs from ${epochsDone} on`, file);
    }
  }
}

const fmt = (x: number): string => (Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(4)) : String(x));

/** The plain line of a report. */
export function formatReportLine(r: TrainReport, outDir: string): string {
  return (
    `kimg ${r.kimg.toFixed(3)}/${r.totalKimg.toFixed(3)} epoch ${r.epoch} lod ${r.lod} ${r.resolution}x${r.resolution} ` +
    `blend ${r.blend.toFixed(3)} lr ${r.lr} | d ${fmt(r.losses.d)} g ${fmt(r.losses.g)} ae ${fmt(r.losses.ae)} | ` +
    `${r.imgPerSec.toFixed(2)} img/s eta ${formatDuration(r.etaSec)}` +
    (r.samplePath ? ` | sample ${relative(outDir, r.samplePath)}` : '')
  );
}

/** The plain line of an iteration (--verbose). */
export function formatIterationLine(i: IterationInfo): string {
  return (
    `iter ${i.iteration} kimg ${(i.imagesTotal / 1000).toFixed(3)} epoch ${i.epoch} lod ${i.lod} blend ${i.blend.toFixed(3)} ` +
    `d ${fmt(i.losses.d)} g ${fmt(i.losses.g)} ae ${fmt(i.losses.ae)} batch [${[...i.indices].join(',')}] ${i.ms.toFixed(0)}ms`
  );
}

/** A path as short as it reads clearly: relative to the working directory when inside it. */
function shortPath(p: string): string {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith('..') ? r : p;
}

/** Dataset preparation progress as a plain line at most every 5 s (and at the end). */
function throttledProgress(say: (s: string) => void): (done: number, total: number, stage?: string) => void {
  let last = 0;
  return (done, total, stage) => {
    const now = Date.now();
    if (done < total && now - last < 5000) return;
    last = now;
    say(`${stage ?? 'preparing'}: ${done}/${total}`);
  };
}

interface Ui {
  iteration(i: IterationInfo): void;
  report(r: TrainReport): void;
  checkpoint(path: string): void;
  level(l: Level): void;
  message(text: string): void;
  close(): void;
}

function plainUi(outDir: string, verbose: boolean): Ui {
  const say = (s: string): void => void process.stdout.write(s + '\n');
  return {
    iteration: (i) => (verbose ? say(formatIterationLine(i)) : undefined),
    report: (r) => say(formatReportLine(r, outDir)),
    checkpoint: (p) => say(`checkpoint ${relative(outDir, p)}`),
    level: (l) => say(`level lod ${l.lod} ${l.resolution}x${l.resolution}, batch ${l.batch}, lr ${l.lr}${l.inTransition ? ', fading in' : ''}`),
    message: (m) => say(m),
    close: () => undefined,
  };
}

async function inkUi(init: DashboardState): Promise<Ui> {
  const [{ render }, React, { TrainDashboard }] = await Promise.all([import('ink'), import('react'), import('../tui/train-dashboard.js')]);
  const s: DashboardState = init;
  const view = () => React.createElement(TrainDashboard, { state: { ...s } });
  const inst = render(view(), { exitOnCtrlC: false, patchConsole: false });
  let closed = false;
  const update = () => {
    if (!closed) inst.rerender(view());
  };
  return {
    iteration: (i) => {
      s.lod = i.lod;
      s.resolution = i.resolution;
      s.blend = i.blend;
      s.inTransition = i.inTransition;
      s.kimg = i.imagesTotal / 1000;
      s.totalKimg = i.totalImages / 1000;
      s.last = i.losses;
      s.status = `iteration ${i.iteration} (${i.ms.toFixed(0)} ms)`;
      update();
    },
    report: (r) => {
      s.imgPerSec = r.imgPerSec;
      s.etaSec = r.etaSec;
      s.history.d.push(r.losses.d);
      s.history.g.push(r.losses.g);
      s.history.ae.push(r.losses.ae);
      if (r.samplePath) s.samplePath = shortPath(r.samplePath);
      update();
    },
    checkpoint: (p) => {
      s.checkpointPath = shortPath(p);
      update();
    },
    level: (l) => {
      s.lod = l.lod;
      s.resolution = l.resolution;
      s.inTransition = l.inTransition;
      update();
    },
    message: (m) => {
      s.status = m;
      update();
    },
    close: () => {
      if (closed) return;
      closed = true;
      update();
      inst.unmount();
    },
  };
}

export async function trainCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(normalizeResume(argv), OPTIONS);
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length) throw new AlaeError(`unexpected argument '${positionals[0]}' (alae train takes options only; see --help)`);
  if (!values.data || !values.out) {
    process.stderr.write(`alae train: --data and --out are required\n\n${USAGE}`);
    return 2;
  }
  if (values.resume !== undefined && values.init) throw new AlaeError('--resume and --init exclude each other');
  const outDir = values.out;
  const maxKimg = number(values['max-kimg'], 'max-kimg', (x) => x > 0, 'a positive number');
  const seed = number(values.seed, 'seed', (x) => Number.isInteger(x) && x >= 0, 'a non-negative integer');
  const reportKimg = number(values['report-kimg'], 'report-kimg', (x) => x > 0, 'a positive number');
  const snapshotKimg = number(values['snapshot-kimg'], 'snapshot-kimg', (x) => x > 0, 'a positive number');
  const epochImages = number(values['epoch-images'], 'epoch-images', (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  const trainEpochs = number(values['train-epochs'], 'train-epochs', (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  if (trainEpochs !== undefined && values.resume === undefined) throw new AlaeError('--train-epochs goes with --resume (a new run takes trainEpochs from --preset/--config)');
  const given = await configFrom(values.preset, values.config);

  // What to start from, read once (checkpoints can be large).
  let ours: { file: string; data: CheckpointData } | null = null;
  let reference: { file: string; start: Awaited<ReturnType<typeof readReferenceStart>> } | null = null;
  let init: Awaited<ReturnType<typeof initWeights>> | null = null;
  let config: AlaeConfig;
  if (values.resume !== undefined) {
    const from = values.resume || outDir;
    if (await isReferenceCheckpoint(from)) {
      reference = { file: from, start: await readReferenceStart(from, { preset: values.config ? undefined : values.preset, config: values.config ? (given ?? undefined) : undefined }) };
      config = reference.start.config;
    } else {
      const file = await findCheckpoint(from);
      if (!file) {
        if (values.resume) throw new AlaeError('no checkpoint to resume from (no `latest` in this folder)', from);
        if (!given) throw new AlaeError(`nothing to resume in ${outDir} yet: give --preset or --config to start the run`);
        config = given;
      } else {
        ours = { file, data: await readCheckpoint(file) };
        config = ours.data.config;
        if (given && !sameArchitecture(given, config)) throw new AlaeError('--preset/--config describe another architecture than the checkpoint (a resumed run keeps its own config)', file);
        if (epochImages !== undefined && epochImages !== ours.data.progress.epochImages) {
          throw new AlaeError(`--epoch-images ${epochImages} differs from the run's ${ours.data.progress.epochImages}; a resumed run keeps its schedule`, file);
        }
        const p = ours.data.progress;
        if (trainEpochs !== undefined && trainEpochs <= p.epoch) {
          throw new AlaeError(`--train-epochs ${trainEpochs}: the run is already in epoch ${p.epoch} (give more than ${p.epoch})`, file);
        }
        // A new schedule continues the run: the given one (e.g. the preset's, extended since the run
        // began), then --train-epochs. The trainer reads it from the checkpoint's config; later
        // checkpoints keep it.
        if (given) checkSchedulePast(given, config, p.epoch + (p.imagesIntoEpoch > 0 ? 1 : 0), file);
        ours.data.config = { ...config, train: { ...(given ?? config).train, ...(trainEpochs !== undefined && { trainEpochs }) } };
        config = ours.data.config;
      }
    }
  } else {
    if (!given) {
      process.stderr.write(`alae train: give --preset or --config (or --resume)\n\n${USAGE}`);
      return 2;
    }
    config = given;
    if (values.init) {
      init = await initWeights(values.init);
      if (!sameArchitecture(init.config, config)) {
        throw new AlaeError(`the weights are for another architecture than ${config.name}`, values.init);
      }
    }
  }

  const backend = await setupBackend(values.backend, true);
  const plain = values.plain || !process.stdout.isTTY;
  const say = (s: string): void => void process.stdout.write(s + '\n');
  if (plain) say(`alae train: ${config.name}, ${resolutionOf(config.model)}x${resolutionOf(config.model)}, backend ${backend}`);
  const dataset: ImageDataset = await openDataset(values.data, {
    channels: config.model.channels,
    cacheDir: values['cache-dir'],
    onProgress: plain ? throttledProgress(say) : undefined,
  });
  if (plain) say(`data ${dataset.name}: ${dataset.trainIndices ? dataset.trainIndices.length : dataset.size} training images${dataset.skipped.length ? `, ${dataset.skipped.length} skipped` : ''}`);

  const ui = plain
    ? plainUi(outDir, values.verbose ?? false)
    : await inkUi(emptyDashboard({ title: config.name, backend, dataset: dataset.name, outDir }));
  const session: SessionOptions = {
    dataset,
    outDir,
    maxKimg,
    samples: !values['no-samples'],
    reportKimg: reportKimg !== undefined ? [reportKimg] : undefined,
    snapshotKimg: snapshotKimg !== undefined ? [snapshotKimg] : undefined,
    onIteration: (i) => ui.iteration(i),
    onReport: (r) => ui.report(r),
    onCheckpoint: (p) => ui.checkpoint(p),
    onLevel: (l) => ui.level(l),
  };

  let trainer: Trainer;
  try {
    if (ours) {
      trainer = await Trainer.resume(ours.file, session, ours.data);
      const p = ours.data.progress;
      ui.message(`resumed from ${ours.file} at kimg ${(p.imagesTotal / 1000).toFixed(3)} (epoch ${p.epoch}, image ${p.imagesIntoEpoch} of the epoch, iteration ${p.iteration})`);
    } else if (reference) {
      trainer = await Trainer.fromReference(reference.file, { ...session, seed, epochImages }, reference.start);
      ui.message(`continuing reference checkpoint ${reference.file} at epoch ${reference.start.epoch}`);
    } else {
      trainer = await Trainer.start({ ...session, config, seed, epochImages, init: init ?? undefined });
      if (init) ui.message(`initialised from ${values.init}`);
    }
  } catch (e) {
    ui.close();
    await dataset.close();
    throw e;
  }

  let signal: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signal) {
      // Second signal: leave now; the last checkpoint on disk is complete.
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
    signal = sig;
    trainer.requestStop();
    ui.message(`${sig}: finishing the current iteration, then saving a checkpoint`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await trainer.run();
    ui.close();
    if (result.reason === 'stopped') {
      say(`stopped at kimg ${result.kimg.toFixed(3)}; checkpoint ${result.checkpoint ?? '-'} (continue with --resume)`);
      return signal === 'SIGTERM' ? 143 : 130;
    }
    say(`${result.reason === 'done' ? 'training complete' : `reached --max-kimg`} at kimg ${result.kimg.toFixed(3)}; model ${result.modelPath}; checkpoint ${result.checkpoint}`);
    return 0;
  } finally {
    ui.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    trainer.dispose();
    await dataset.close();
  }
}
