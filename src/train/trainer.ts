/**
 * The training loop: progressive growing over epochs (schedule.ts), one
 * three-step ALAE iteration per batch (step.ts), reports (metrics line and
 * sample grid) and checkpoints on the reference's kimg ticks and at the end
 * of every epoch (train_alae.py), exact resume (checkpoint.ts).
 *
 * The library reports through callbacks only; rendering is the CLI's job.
 *
 * No run is lost: every way in checks the run folder first (run-folder.ts:
 * a new run, or a run continued from elsewhere, never writes into a folder
 * holding another run's files), and the data against the config (channels,
 * sizes, a batch no larger than an epoch) before any model is built.
 *
 * Usage:
 *   const t = await Trainer.start({ config, dataset, outDir });      // fresh
 *   const t = await Trainer.resume(checkpointOrRunDir, { dataset, outDir });   // optionally { config, trainEpochs }: a new schedule
 *   const t = await Trainer.fromReference('model_157.pth', { dataset, outDir });
 *   const t = await Trainer.open(await planRun(request), { dataset, outDir });  // what `alae train` does (run-plan.ts)
 *   const result = await t.run();   // until done, --max-kimg, or requestStop()
 *   t.dispose();
 */
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { type AlaeConfig, styleCount } from '../config/config.js';
import { AlaeError } from '../errors.js';
import { AlaeModel } from '../model/alae.js';
import type { ImageDataset } from '../data/dataset.js';
import { BatchLoader } from '../data/loader.js';
import { toFloatImage } from '../image/image.js';
import { writeFileAtomic } from '../util/atomic.js';
import { encodeModelFile } from '../io/model-file.js';
import { Rng } from '../util/random.js';
import { LREQAdam, type AdamStateArrays } from './lreq-adam.js';
import { type CheckpointData, type LossSums, type MetricsRecord, type TrainProgress, CHECKPOINT_DIR, writeCheckpoint } from './checkpoint.js';
import { appendMetrics, METRICS_FILE, repairMetrics } from './metrics.js';
import { checkRunFolder, MODEL_FILE, SAMPLES_DIR, SKIPPED_FILE } from './run-folder.js';
import { planRun, type RunPlan } from './run-plan.js';
import type { ReferenceStart } from './reference.js';
import { writeSampleGrid } from './samples.js';
import {
  type Level,
  type ScheduleSpec,
  checkSchedule,
  imagesBefore,
  levelAt,
  reportKimgForLod,
  snapshotKimgForLod,
  totalImages,
} from './schedule.js';
import { type StepLosses, type TrainState, trainIteration } from './step.js';

/** Seed of the fixed sample latents (train_alae.py: np.random.RandomState(3456)). */
export const SAMPLE_Z_SEED = 3456;
/** Reports kept in a checkpoint for the dashboard's trend after a resume. */
const METRICS_TAIL = 200;

export interface TrainReport {
  epoch: number;
  lod: number;
  resolution: number;
  blend: number;
  lr: number;
  kimg: number;
  totalKimg: number;
  imgPerSec: number;
  etaSec: number | null;
  /** Mean of each loss over the iterations since the previous report. */
  losses: { d: number; g: number; ae: number };
  /** The sample grid written for this report (null when samples are off). */
  samplePath: string | null;
}

export interface IterationInfo {
  iteration: number;
  epoch: number;
  lod: number;
  resolution: number;
  batch: number;
  blend: number;
  inTransition: boolean;
  lr: number;
  /** Images trained on so far (this iteration included). */
  imagesTotal: number;
  totalImages: number;
  losses: StepLosses;
  /** Dataset indices of the batch. */
  indices: Int32Array;
  ms: number;
}

export interface TrainerCallbacks {
  onIteration?: (i: IterationInfo) => void;
  onReport?: (r: TrainReport) => void;
  /** May return a promise: the trainer waits for it before going on (e.g. to copy the file). */
  onCheckpoint?: (path: string, progress: TrainProgress) => void | Promise<void>;
  /** A new level of detail begins (also called for the first level of a session). */
  onLevel?: (level: Level) => void;
}

export interface SessionOptions extends TrainerCallbacks {
  dataset: ImageDataset;
  /** Run folder: checkpoints/, latest, samples/, metrics.jsonl, model.safetensors. */
  outDir: string;
  /** Stop once this many kimg have been trained in total (default: the whole schedule). */
  maxKimg?: number;
  /** Write sample grids with reports (default true). */
  samples?: boolean;
  /** Columns of the sample grid (default min(32, batch), as the reference). */
  sampleCount?: number;
  /** Override REPORT_FREQ / SNAPSHOT_FREQ (kimg per lod). */
  reportKimg?: number[];
  snapshotKimg?: number[];
  /** Checkpoints kept (default 1: the last). */
  keepCheckpoints?: number;
  /** Batches decoded ahead (default 2). */
  prefetch?: number;
  /** See StepOptions.torchZeroGrad (default true). */
  torchZeroGrad?: boolean;
}

export interface StartOptions extends SessionOptions {
  config: AlaeConfig;
  /** Seed of everything random: weights, sample order, z, noise, mixing (default 0). */
  seed?: number;
  /** Images per epoch (default: the dataset's training images, as the reference's len(dataset)). */
  epochImages?: number;
  /** Start from these weights instead of a fresh initialisation (--init). */
  init?: { trained: ReadonlyMap<string, Float32Array>; averaged: ReadonlyMap<string, Float32Array> };
}

export interface ResumeOptions extends SessionOptions {
  /** A new schedule for the run (run-plan.ts: only where it agrees with the epochs already run). */
  config?: AlaeConfig;
  /** Train this many epochs in all (more than the run's current epoch). */
  trainEpochs?: number;
  /** Must equal the run's images per epoch when given. */
  epochImages?: number;
}

export interface ReferenceOptions extends SessionOptions {
  /** Schedule to continue with (architecture must match the file); default: the matching preset. */
  config?: AlaeConfig;
  preset?: string;
  seed?: number;
  epochImages?: number;
}

export type StopReason = 'done' | 'max-kimg' | 'stopped';

export interface RunResult {
  reason: StopReason;
  kimg: number;
  checkpoint: string | null;
  /** The final averaged model (only when the schedule or --max-kimg completed). */
  modelPath: string | null;
}

interface Internal {
  config: AlaeConfig;
  state: TrainState;
  loader: BatchLoader;
  progress: TrainProgress;
}

export class Trainer {
  readonly config: AlaeConfig;
  readonly outDir: string;
  readonly dataset: ImageDataset;
  readonly schedule: ScheduleSpec;
  readonly state: TrainState;
  private readonly loader: BatchLoader;
  private readonly opts: SessionOptions;
  private progress: TrainProgress;
  private stopRequested = false;
  private sessionStart = performance.now();
  private elapsedAtStart: number;
  private reportClock = performance.now();
  private imagesAtReportClock: number;
  private lastCheckpointAt = -1;
  private lastReportAt = -1;
  private levelAnnounced = false;
  private disposed = false;
  private readonly trainIndices: Int32Array;

  private constructor(opts: SessionOptions, it: Internal) {
    this.opts = opts;
    this.config = it.config;
    this.outDir = opts.outDir;
    this.dataset = opts.dataset;
    this.state = it.state;
    this.loader = it.loader;
    this.progress = it.progress;
    this.schedule = { train: this.trainConfig(), layerCount: it.config.model.layerCount, epochImages: it.progress.epochImages };
    this.elapsedAtStart = it.progress.elapsedSec;
    this.imagesAtReportClock = it.progress.imagesTotal;
    const idx = opts.dataset.trainIndices;
    this.trainIndices = idx ? Int32Array.from(idx as ArrayLike<number>) : Int32Array.from({ length: opts.dataset.size }, (_, i) => i);
  }

  private trainConfig(): AlaeConfig['train'] {
    return {
      ...this.config.train,
      reportKimg: this.opts.reportKimg ?? this.config.train.reportKimg,
      snapshotKimg: this.opts.snapshotKimg ?? this.config.train.snapshotKimg,
    };
  }

  // ---------------------------------------------------------------- creation

  /** A new run (fresh weights, or `init` weights with fresh optimizers), at epoch 0, in a folder that holds no run. */
  static async start(o: StartOptions): Promise<Trainer> {
    await checkRunFolder(o.outDir);
    return Trainer.fresh(o);
  }

  /**
   * Continue a run of ours: `spec` is a checkpoint file or a run folder (its
   * `latest`), into its own folder or a new one; with `config` /
   * `trainEpochs`, on a new schedule (run-plan.ts).
   */
  static async resume(spec: string, o: ResumeOptions): Promise<Trainer> {
    return Trainer.open(await planRun({ outDir: o.outDir, resume: spec, config: o.config, trainEpochs: o.trainEpochs, epochImages: o.epochImages }), o);
  }

  /**
   * Continue a reference run from its `.pth`: trained and averaged weights,
   * both optimizers' state, the scheduler's epoch. (train_alae.py itself
   * throws the optimizer state away on resume, because LODDriver starts at
   * lod -1 and every level change resets it; we keep it.)
   */
  static async fromReference(file: string, o: ReferenceOptions): Promise<Trainer> {
    return Trainer.open(await planRun({ outDir: o.outDir, resume: file, config: o.config, preset: o.preset, seed: o.seed, epochImages: o.epochImages }), o);
  }

  /** Build the run a plan describes (planRun checked the folder and the config; here the data). */
  static async open(plan: RunPlan, o: SessionOptions): Promise<Trainer> {
    if (resolve(o.outDir) !== resolve(plan.outDir)) throw new AlaeError(`the session writes to ${o.outDir}, but the plan checked ${plan.outDir}`);
    if (plan.kind === 'new') return Trainer.fresh({ ...o, config: plan.config, seed: plan.seed, epochImages: plan.epochImages, init: plan.init ?? undefined });
    if (plan.kind === 'resume') return Trainer.continueRun(plan.file, o, plan.checkpoint);
    return Trainer.continueReference(plan.file, { ...o, seed: plan.seed, epochImages: plan.epochImages }, plan.start);
  }

  private static async fresh(o: StartOptions): Promise<Trainer> {
    const seed = o.seed ?? 0;
    const epochImages = o.epochImages ?? countTrainImages(o.dataset);
    checkBeforeBuilding(o.dataset, o.config, epochImages);
    let model: AlaeModel | null = null;
    let averaged: AlaeModel | null = null;
    try {
      if (o.init) {
        model = AlaeModel.fromArrays(o.config, o.init.trained);
        averaged = AlaeModel.fromArrays(o.config, o.init.averaged);
      } else {
        model = AlaeModel.create(o.config, seed);
        // The reference builds model_s as a second, independently initialised Model (train_alae.py), not a copy.
        averaged = AlaeModel.create(o.config, new Rng(seed, 77).nextU32());
      }
      const progress = initialProgress(seed, epochImages, 0);
      return await Trainer.assemble(o, o.config, model, averaged, null, progress);
    } catch (e) {
      model?.dispose();
      averaged?.dispose();
      throw e;
    }
  }

  private static async continueRun(file: string, o: SessionOptions, ck: CheckpointData): Promise<Trainer> {
    checkBeforeBuilding(o.dataset, ck.config, ck.progress.epochImages);
    const model = AlaeModel.fromArrays(ck.config, ck.trained, file);
    let averaged: AlaeModel | null = null;
    try {
      averaged = AlaeModel.fromArrays(ck.config, ck.averaged, file);
      const t = await Trainer.assemble(o, ck.config, model, averaged, ck, ck.progress);
      t.lastCheckpointAt = ck.progress.imagesTotal;
      t.lastCheckpointPath = file;
      await repairMetrics(join(o.outDir, METRICS_FILE), ck.progress.imagesTotal / 1000);
      await removeStaleTemps(join(o.outDir, CHECKPOINT_DIR));
      return t;
    } catch (e) {
      model.dispose();
      averaged?.dispose();
      throw e;
    }
  }

  private static async continueReference(file: string, o: SessionOptions & { seed?: number; epochImages?: number }, ref: ReferenceStart): Promise<Trainer> {
    const seed = o.seed ?? 0;
    const epochImages = o.epochImages ?? countTrainImages(o.dataset);
    if (ref.epoch >= ref.config.train.trainEpochs) throw new AlaeError(`the checkpoint is at epoch ${ref.epoch}, past the schedule's ${ref.config.train.trainEpochs} epochs`, file);
    checkBeforeBuilding(o.dataset, ref.config, epochImages);
    const model = AlaeModel.fromArrays(ref.config, ref.trained, file);
    let averaged: AlaeModel | null = null;
    try {
      averaged = AlaeModel.fromArrays(ref.config, ref.averaged, file);
      const spec: ScheduleSpec = { train: ref.config.train, layerCount: ref.config.model.layerCount, epochImages };
      const progress = initialProgress(seed, epochImages, ref.epoch);
      progress.imagesTotal = imagesBefore(ref.epoch, 0, spec);
      progress.lod = levelAt(ref.epoch, 0, spec).lod;
      const opt = ref.optimizers
        ? { encoder: { lr: 0, state: ref.optimizers.encoder }, decoder: { lr: 0, state: ref.optimizers.decoder } }
        : null;
      return await Trainer.assemble(o, ref.config, model, averaged, opt, progress);
    } catch (e) {
      model.dispose();
      averaged?.dispose();
      throw e;
    }
  }

  private static async assemble(
    o: SessionOptions,
    config: AlaeConfig,
    model: AlaeModel,
    averaged: AlaeModel,
    optimizers: Pick<CheckpointData, 'encoder' | 'decoder'> | null,
    progress: TrainProgress,
  ): Promise<Trainer> {
    const spec: ScheduleSpec = { train: config.train, layerCount: config.model.layerCount, epochImages: progress.epochImages };
    const beta2 = config.train.adamBeta2;
    const level = levelAt(progress.epoch, progress.imagesIntoEpoch, spec);
    const encoderOpt = new LREQAdam(model, ['encoder', 'mapping_d'], { lr: level.lr, beta2 });
    const decoderOpt = new LREQAdam(model, ['decoder', 'mapping_f'], { lr: level.lr, beta2 });
    if (optimizers) {
      encoderOpt.load(optimizers.encoder.state as AdamStateArrays, model);
      decoderOpt.load(optimizers.decoder.state as AdamStateArrays, model);
    }
    const loader = new BatchLoader(o.dataset, {
      batchSize: level.batch,
      resolution: level.resolution,
      seed: progress.seed,
      mirror: config.train.mirror,
      prefetch: o.prefetch ?? 2,
    });
    if (progress.loader.count === -1) progress.loader = loader.getState();
    else loader.restore(progress.loader);
    await mkdir(o.outDir, { recursive: true });
    await writeSkipped(o.outDir, o.dataset);
    const state: TrainState = { model, averaged, encoderOpt, decoderOpt, rng: Rng.fromState(progress.rng) };
    return new Trainer(o, { config, state, loader, progress });
  }

  // ---------------------------------------------------------------- state

  /** Where the run stands (a copy). */
  get position(): TrainProgress {
    return structuredClone({ ...this.progress, rng: this.state.rng.getState(), loader: this.loader.getState() });
  }

  /** Images the run trains on in all (the schedule, or --max-kimg). */
  get targetImages(): number {
    const all = totalImages(this.schedule);
    return this.opts.maxKimg !== undefined ? Math.min(all, Math.ceil(this.opts.maxKimg * 1000)) : all;
  }

  get finished(): boolean {
    return this.progress.epoch >= this.config.train.trainEpochs || this.progress.imagesTotal >= this.targetImages;
  }

  /** The level the next iteration trains at. */
  get level(): Level {
    return levelAt(this.progress.epoch, this.progress.imagesIntoEpoch, this.schedule);
  }

  /** Finish the current iteration, write a checkpoint and return from run(). */
  requestStop(): void {
    this.stopRequested = true;
  }

  get stopping(): boolean {
    return this.stopRequested;
  }

  // ---------------------------------------------------------------- loop

  /** Train until the schedule (or maxKimg) is done or a stop is requested. */
  async run(): Promise<RunResult> {
    this.assertLive();
    while (!this.finished && !this.stopRequested) await this.step();
    if (this.stopRequested && !this.finished) {
      const checkpoint = await this.checkpointIfNeeded();
      return { reason: 'stopped', kimg: this.progress.imagesTotal / 1000, checkpoint, modelPath: null };
    }
    // A final report unless nothing was trained since the last one (e.g. a resume already at the target).
    if (this.lastReportAt !== this.progress.imagesTotal && this.progress.lossSums.count > 0) await this.report(this.lastLevel());
    const checkpoint = await this.checkpointIfNeeded();
    const modelPath = await this.saveFinalModel();
    const reason: StopReason = this.progress.epoch >= this.config.train.trainEpochs ? 'done' : 'max-kimg';
    return { reason, kimg: this.progress.imagesTotal / 1000, checkpoint, modelPath };
  }

  /** One iteration, then the reports and checkpoints that fall due. */
  async step(): Promise<IterationInfo> {
    this.assertLive();
    if (this.finished) throw new AlaeError('the schedule is complete');
    const t0 = performance.now();
    const p = this.progress;
    const level = this.level;
    const newLevel = level.lod !== p.lod;
    if (newLevel) {
      // LODDriver.set_epoch: a new level resets both optimizers' state.
      this.state.encoderOpt.reset();
      this.state.decoderOpt.reset();
      p.lod = level.lod;
    }
    if (this.loader.currentBatchSize !== level.batch || this.loader.currentResolution !== level.resolution) {
      this.loader.reset({ resolution: level.resolution, batchSize: level.batch });
    }
    if (newLevel || !this.levelAnnounced) this.opts.onLevel?.(level);
    this.levelAnnounced = true;
    this.state.encoderOpt.lr = level.lr;
    this.state.decoderOpt.lr = level.lr;

    const batch = await this.loader.next();
    const x = tf.tensor4d(batch.data, batch.shape);
    let losses: StepLosses;
    try {
      losses = await trainIteration(this.state, x, level, {
        r1Gamma: this.config.train.r1Gamma,
        styleMixingProb: this.config.model.styleMixingProb,
        dlatentAvgBeta: this.config.model.dlatentAvgBeta,
        torchZeroGrad: this.opts.torchZeroGrad ?? true,
      });
    } finally {
      x.dispose();
    }
    p.iteration += 1;
    p.imagesIntoEpoch += level.batch;
    p.imagesTotal += level.batch;
    p.imagesSinceReport += level.batch;
    p.imagesSinceSnapshot += level.batch;
    p.lossSums.d += losses.d;
    p.lossSums.g += losses.g;
    p.lossSums.ae += losses.ae;
    p.lossSums.count += 1;
    const info: IterationInfo = {
      iteration: p.iteration,
      epoch: level.epoch,
      lod: level.lod,
      resolution: level.resolution,
      batch: level.batch,
      blend: level.blend,
      inTransition: level.inTransition,
      lr: level.lr,
      imagesTotal: p.imagesTotal,
      totalImages: this.targetImages,
      losses,
      indices: batch.indices,
      ms: performance.now() - t0,
    };
    // The level as the reference's save_sample sees it: after lod2batch.step(), before the next epoch.
    const after = levelAt(level.epoch, p.imagesIntoEpoch, this.schedule);
    this._lastLevel = after;
    const epochEnd = p.imagesIntoEpoch + level.batch > this.schedule.epochImages;
    if (epochEnd) {
      p.epoch += 1;
      p.imagesIntoEpoch = 0;
    }
    this.opts.onIteration?.(info);
    const train = this.schedule.train;
    const snapshotDue = epochEnd || p.imagesSinceSnapshot >= snapshotKimgForLod(level.lod, train) * 1000;
    const reportDue = epochEnd || p.imagesSinceReport >= reportKimgForLod(level.lod, train) * 1000;
    // train_alae.py checks the snapshot tick before the report tick and, at the end of an epoch,
    // checkpoints before the sample. We report first so the checkpoint holds the reset loss sums
    // and the new metrics line; the files written are the same.
    if (reportDue) await this.report(after);
    if (snapshotDue && !this.finished) await this.checkpoint();
    return info;
  }

  private _lastLevel: Level | null = null;
  private lastLevel(): Level {
    return this._lastLevel ?? this.level;
  }

  // ---------------------------------------------------------------- outputs

  /** Write a report now: metrics line, sample grid, onReport. */
  async report(level: Level = this.lastLevel()): Promise<TrainReport> {
    const p = this.progress;
    const now = performance.now();
    const dt = (now - this.reportClock) / 1000;
    const images = p.imagesTotal - this.imagesAtReportClock;
    const imgPerSec = dt > 0 && images > 0 ? images / dt : 0;
    const remaining = Math.max(0, this.targetImages - p.imagesTotal);
    const n = p.lossSums.count;
    const losses = n > 0 ? { d: p.lossSums.d / n, g: p.lossSums.g / n, ae: p.lossSums.ae / n } : { d: NaN, g: NaN, ae: NaN };
    let samplePath: string | null = null;
    if (this.opts.samples ?? true) {
      const dir = join(this.outDir, SAMPLES_DIR);
      await mkdir(dir, { recursive: true });
      samplePath = join(dir, `sample-${String(p.imagesTotal).padStart(10, '0')}.png`);
      await this.writeSample(samplePath, level);
    }
    const report: TrainReport = {
      epoch: level.epoch,
      lod: level.lod,
      resolution: level.resolution,
      blend: level.blend,
      lr: level.lr,
      kimg: p.imagesTotal / 1000,
      totalKimg: this.targetImages / 1000,
      imgPerSec,
      etaSec: imgPerSec > 0 ? remaining / imgPerSec : null,
      losses,
      samplePath,
    };
    const record: MetricsRecord = {
      time: new Date().toISOString(),
      ...report,
      samplePath: samplePath ? relative(this.outDir, samplePath) : null,
    };
    await appendMetrics(join(this.outDir, METRICS_FILE), record);
    p.metricsTail.push(record);
    if (p.metricsTail.length > METRICS_TAIL) p.metricsTail.splice(0, p.metricsTail.length - METRICS_TAIL);
    p.lossSums = { d: 0, g: 0, ae: 0, count: 0 };
    p.imagesSinceReport = 0;
    this.reportClock = performance.now();
    this.imagesAtReportClock = p.imagesTotal;
    this.lastReportAt = p.imagesTotal;
    this.opts.onReport?.(report);
    return report;
  }

  /**
   * The sample grid at `level` (fixed reals: training images evenly spaced
   * over the training split, so a dataset stored in class order, as the
   * mnist package's digits are, shows every class; fixed z: seed 3456).
   */
  async writeSample(path: string, level: Level = this.lastLevel()): Promise<void> {
    const cols = Math.min(this.opts.sampleCount ?? 32, level.batch, this.trainIndices.length);
    const res = level.resolution;
    const c = this.config.model.channels;
    const per = res * res * c;
    const data = new Float32Array(cols * per);
    const n = this.trainIndices.length;
    for (let k = 0; k < cols; k++) toFloatImage(await this.dataset.get(this.trainIndices[Math.floor((k * n) / cols)], res), res, c, false, data, k * per);
    const reals = tf.tensor4d(data, [cols, res, res, c]);
    const latent = this.config.model.latentSize;
    const z: Tensor = tf.tensor2d(new Rng(SAMPLE_Z_SEED, 5).normals(cols * latent), [cols, latent]);
    try {
      await writeSampleGrid(path, {
        model: this.state.model,
        averaged: this.state.averaged,
        reals: reals as Tensor4D,
        z,
        lod: level.lod,
        blend: level.blend,
        inTransition: level.inTransition,
        noiseSeed: SAMPLE_Z_SEED,
      });
    } finally {
      reals.dispose();
      z.dispose();
    }
  }

  private async checkpointIfNeeded(): Promise<string | null> {
    if (this.lastCheckpointAt === this.progress.imagesTotal && this.lastCheckpointPath) return this.lastCheckpointPath;
    return this.checkpoint();
  }

  private lastCheckpointPath: string | null = null;

  /** Write a checkpoint of the current position now. */
  async checkpoint(): Promise<string> {
    this.assertLive();
    const p = this.position;
    p.elapsedSec = this.elapsedSec();
    const trained = await this.state.model.toArrays();
    const averaged = await this.state.averaged.toArrays();
    // The reference tracks dlatent_avg in the trained model only and saves that one with both (checkpointer model_dict).
    averaged.set('dlatent_avg.buff', trained.get('dlatent_avg.buff')!);
    const data: CheckpointData = {
      config: this.config,
      trained,
      averaged,
      encoder: { lr: this.state.encoderOpt.lr, state: await this.state.encoderOpt.toArrays() },
      decoder: { lr: this.state.decoderOpt.lr, state: await this.state.decoderOpt.toArrays() },
      progress: p,
    };
    const path = await writeCheckpoint(this.outDir, data, this.opts.keepCheckpoints ?? 1);
    this.progress.imagesSinceSnapshot = 0;
    this.lastCheckpointAt = this.progress.imagesTotal;
    this.lastCheckpointPath = path;
    await this.opts.onCheckpoint?.(path, p);
    return path;
  }

  /** `<out>/model.safetensors`: the averaged networks with the tracked w average, as inference uses them. */
  async saveFinalModel(path = join(this.outDir, MODEL_FILE)): Promise<string> {
    const arrays = await this.state.averaged.toArrays();
    arrays.set('dlatent_avg.buff', (await this.state.model.dlatentAvg.data()) as Float32Array);
    await writeFileAtomic(path, encodeModelFile(this.config, arrays, { source: 'alae train', kimg: String(this.progress.imagesTotal / 1000) }));
    return path;
  }

  private elapsedSec(): number {
    return this.elapsedAtStart + (performance.now() - this.sessionStart) / 1000;
  }

  private assertLive(): void {
    if (this.disposed) throw new AlaeError('this trainer has been disposed');
  }

  /** Release the models, optimizer state and loader (not the dataset). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.loader.close();
    this.state.encoderOpt.dispose();
    this.state.decoderOpt.dispose();
    this.state.model.dispose();
    this.state.averaged.dispose();
  }
}

/** Temporary files of checkpoint writes that a killed process left behind (atomic.ts names them `.<name>.<pid>.<rand>.tmp`). */
async function removeStaleTemps(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const f of names) {
    const m = /^\.ckpt-\d+\.safetensors\.(\d+)\.[0-9a-f]+\.tmp$/.exec(f);
    if (m && Number(m[1]) !== process.pid) await unlink(join(dir, f)).catch(() => undefined);
  }
}

function countTrainImages(ds: ImageDataset): number {
  return ds.trainIndices ? ds.trainIndices.length : ds.size;
}

/**
 * `<out>/skipped-files.txt`: every input the data left out and why (a
 * `file<TAB>reason` line each). Written at the start of each session that
 * has any, or that finds one from an earlier session of the run.
 */
async function writeSkipped(outDir: string, ds: ImageDataset): Promise<void> {
  const file = join(outDir, SKIPPED_FILE);
  if (ds.skipped.length === 0 && !existsSync(file)) return;
  await writeFileAtomic(file, ds.skipped.map((s) => `${s.file}\t${s.reason}\n`).join(''));
}

/** Everything about the data and the schedule that can fail, checked before a model is built. */
function checkBeforeBuilding(ds: ImageDataset, config: AlaeConfig, epochImages: number): void {
  checkDataset(ds, config);
  checkSchedule({ train: config.train, layerCount: config.model.layerCount, epochImages });
}

function checkDataset(ds: ImageDataset, config: AlaeConfig): void {
  if (ds.channels !== config.model.channels) {
    throw new AlaeError(`the dataset has ${ds.channels} channel(s) but the model takes ${config.model.channels}`, ds.name);
  }
  const res = 2 ** (config.model.layerCount + 1);
  if (ds.maxResolution !== null && ds.maxResolution < res) {
    throw new AlaeError(`the dataset's images are at most ${ds.maxResolution}x${ds.maxResolution}; the model trains up to ${res}x${res}`, ds.name);
  }
  if (countTrainImages(ds) === 0) throw new AlaeError('no images to train on', ds.name);
  if (styleCount(config.model) < 2) throw new AlaeError('the model needs at least one generator block');
}

function initialProgress(seed: number, epochImages: number, epoch: number): TrainProgress {
  if (!Number.isInteger(seed)) throw new AlaeError(`seed must be an integer (got ${seed})`);
  return {
    version: 1,
    seed,
    epochImages,
    epoch,
    imagesIntoEpoch: 0,
    imagesTotal: 0,
    iteration: 0,
    lod: -1,
    imagesSinceReport: 0,
    imagesSinceSnapshot: 0,
    lossSums: { d: 0, g: 0, ae: 0, count: 0 } satisfies LossSums,
    // A stream of its own: the loader draws from new Rng(seed) (stream 54).
    rng: new Rng(seed, 101).getState(),
    loader: { version: 1, count: -1, epoch: 0, position: 0, rng: new Rng(seed).getState() },
    elapsedSec: 0,
    metricsTail: [],
  };
}
