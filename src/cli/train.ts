/**
 * `alae train`: train a model on a folder of images, MNIST or TFRecords,
 * resumably. The rules (what a run starts from, a new schedule on resume,
 * which folder a run may write into) are the library's (train/run-plan.ts,
 * train/run-folder.ts); this file parses the options and renders. In a
 * terminal an ink dashboard shows the run; otherwise one plain line per
 * report (and per level change and checkpoint).
 *
 * SIGINT / SIGTERM: the current iteration finishes, a checkpoint is written
 * and the command exits 130 / 143. A second signal exits at once (the last
 * checkpoint on disk is complete: writes are atomic).
 */
import { join, relative } from 'node:path';
import { parse, setupBackend, UsageError } from './args.js';
import { configFrom } from './config-options.js';
import { signalExit, stopOnSignal } from './signals.js';
import { resolutionOf } from '../config/config.js';
import type { ImageDataset } from '../data/dataset.js';
import { type IterationInfo, type SessionOptions, type TrainReport, Trainer } from '../train/trainer.js';
import { openRunData, planRun, type RunPlan } from '../train/run-plan.js';
import { SKIPPED_FILE } from '../train/run-folder.js';
import type { Level } from '../train/schedule.js';
import { type DashboardState, emptyDashboard, formatDuration } from '../tui/train-dashboard.js';

const USAGE = `usage: alae train --data <folder|mnist|files.tfrecords> --out <dir> (--preset <name> | --config <file.json>) [options]
       alae train --data <...> --out <dir> --resume [<checkpoint|run dir|model.pth>]

  --preset <name>        a preset (alae info <name> shows it)
  --config <file.json>   a config (partial AlaeConfig: {"model": {...}, "train": {...}}); with --preset, overrides it
  --data <spec>          image folder, 'mnist', or TFRecords (file, glob or %d pattern)
  --out <dir>            run folder: checkpoints/, latest, samples/, metrics.jsonl, model.safetensors,
                         skipped-files.txt. A new run needs a folder that is new or holds none of these: a
                         folder with another run is refused before anything is built (continue that run
                         with --resume, or give another --out). No run is ever overwritten: there is no --force
  --recursive            --data <folder>: take the images in its subfolders too (default: the folder's own)
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
  recursive: { type: 'boolean' as const },
  force: { type: 'boolean' as const },
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
  if (v.trim() === '' || !Number.isFinite(x) || !check(x)) throw new UsageError(`--${name} must be ${what} (got '${v}')`);
  return x;
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

/** Skipped inputs shown on screen (all of them go to skipped-files.txt in the run folder). */
const SKIPPED_SHOWN = 5;

/** The lines naming what the data left out: the first few, and where the rest are. */
export function skippedLines(ds: ImageDataset, outDir: string): string[] {
  const n = ds.skipped.length;
  if (n === 0) return [];
  const lines = ds.skipped.slice(0, SKIPPED_SHOWN).map((s) => `  skipped ${s.file}: ${s.reason}`);
  lines.push(`  ${n > SKIPPED_SHOWN ? `and ${n - SKIPPED_SHOWN} more; ` : ''}all ${n} listed in ${join(outDir, SKIPPED_FILE)}`);
  return lines;
}

function startMessage(plan: RunPlan): string | null {
  if (plan.kind === 'resume') {
    const p = plan.checkpoint.progress;
    return `resumed from ${plan.file} at kimg ${(p.imagesTotal / 1000).toFixed(3)} (epoch ${p.epoch}, image ${p.imagesIntoEpoch} of the epoch, iteration ${p.iteration})`;
  }
  if (plan.kind === 'reference') return `continuing reference checkpoint ${plan.file} at epoch ${plan.start.epoch}`;
  return plan.init ? `initialised from ${plan.init.file}` : null;
}

export async function trainCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(normalizeResume(argv), OPTIONS);
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' (alae train takes options only)`);
  if (values.force) throw new UsageError('train has no --force: a run is never overwritten; continue it with --resume, or give another --out');
  if (!values.data || !values.out) throw new UsageError('--data and --out are required');
  if (values.resume !== undefined && values.init) throw new UsageError('--resume and --init exclude each other');
  if (values.resume === undefined && !values.preset && !values.config) throw new UsageError('give --preset or --config (or --resume)');
  const outDir = values.out;
  const maxKimg = number(values['max-kimg'], 'max-kimg', (x) => x > 0, 'a positive number');
  const seed = number(values.seed, 'seed', (x) => Number.isInteger(x) && x >= 0, 'a non-negative integer');
  const reportKimg = number(values['report-kimg'], 'report-kimg', (x) => x > 0, 'a positive number');
  const snapshotKimg = number(values['snapshot-kimg'], 'snapshot-kimg', (x) => x > 0, 'a positive number');
  const epochImages = number(values['epoch-images'], 'epoch-images', (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  const trainEpochs = number(values['train-epochs'], 'train-epochs', (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  if (trainEpochs !== undefined && values.resume === undefined) throw new UsageError('--train-epochs goes with --resume (a new run takes trainEpochs from --preset/--config)');
  const given = await configFrom(values.preset, values.config);

  // What to start from, read and checked once (checkpoints can be large), before anything is built.
  const plan = await planRun({
    outDir,
    config: given ?? undefined,
    preset: values.preset,
    resume: values.resume === undefined ? undefined : values.resume || true,
    init: values.init,
    trainEpochs,
    epochImages,
    seed,
  });
  const config = plan.config;

  const backend = await setupBackend(values.backend, true);
  const plain = values.plain || !process.stdout.isTTY;
  const say = (s: string): void => void process.stdout.write(s + '\n');
  if (plain) say(`alae train: ${config.name}, ${resolutionOf(config.model)}x${resolutionOf(config.model)}, backend ${backend}`);
  const dataset = await openRunData(values.data, plan, {
    cacheDir: values['cache-dir'],
    recursive: values.recursive,
    onProgress: plain ? throttledProgress(say) : undefined,
  });
  say(`data ${dataset.name}: ${dataset.trainIndices ? dataset.trainIndices.length : dataset.size} training images${dataset.skipped.length ? `, ${dataset.skipped.length} skipped` : ''}`);
  // The trainer is built before the dashboard starts, so what goes wrong building it (and the skipped files) reads as plain lines.
  let ui: Ui | null = null;
  const session: SessionOptions = {
    dataset,
    outDir,
    maxKimg,
    samples: !values['no-samples'],
    reportKimg: reportKimg !== undefined ? [reportKimg] : undefined,
    snapshotKimg: snapshotKimg !== undefined ? [snapshotKimg] : undefined,
    onIteration: (i) => ui?.iteration(i),
    onReport: (r) => ui?.report(r),
    onCheckpoint: (p) => ui?.checkpoint(p),
    onLevel: (l) => ui?.level(l),
  };
  let trainer: Trainer;
  try {
    trainer = await Trainer.open(plan, session);
  } catch (e) {
    await dataset.close();
    throw e;
  }
  for (const l of skippedLines(dataset, outDir)) say(l);
  const view = plain ? plainUi(outDir, values.verbose ?? false) : await inkUi(emptyDashboard({ title: config.name, backend, dataset: dataset.name, outDir }));
  ui = view;
  const started = startMessage(plan);
  if (started) view.message(started);
  // First signal: finish the iteration, checkpoint, exit 130/143; a second leaves at once (the last checkpoint on disk is complete).
  const stop = stopOnSignal((sig) => {
    trainer.requestStop();
    view.message(`${sig}: finishing the current iteration, then saving a checkpoint`);
  });
  try {
    const result = await trainer.run();
    view.close();
    if (result.reason === 'stopped') {
      say(`stopped at kimg ${result.kimg.toFixed(3)}; checkpoint ${result.checkpoint ?? '-'} (continue with --resume)`);
      return signalExit(stop.signal ?? 'SIGINT');
    }
    say(`${result.reason === 'done' ? 'training complete' : `reached --max-kimg`} at kimg ${result.kimg.toFixed(3)}; model ${result.modelPath}; checkpoint ${result.checkpoint}`);
    return 0;
  } finally {
    stop.release();
    view.close();
    trainer.dispose();
    await dataset.close();
  }
}
