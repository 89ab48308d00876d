/**
 * Running one benchmark row in this process: a model of the row's preset
 * with random weights, synthetic data at the row's resolution, a warm-up,
 * then timed iterations until `iters` are done or the time budget would be
 * passed. Training rows time `trainIteration` (three steps, R1, averaged
 * update), exactly what `alae train` runs per batch; inference rows time
 * E then G at full resolution. Each timing ends with a read of a value
 * computed last, so queued GPU work is included.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { type AlaeConfig, resolveConfig, styleCount } from '../config/config.js';
import { AlaeError } from '../errors.js';
import { AlaeModel } from '../model/alae.js';
import { noiseShape, type NoiseMaps } from '../model/generator.js';
import { paramSpecs } from '../model/params.js';
import { Rng } from '../util/random.js';
import { LREQAdam } from '../train/lreq-adam.js';
import { seededNormals } from '../train/noise.js';
import { trainIteration, type TrainState } from '../train/step.js';
import type { BenchRow } from './rows.js';
import { installGpuTrace } from './gpu-trace.js';
import { traceKernels } from './kernel-trace.js';
import { tracePhases } from './phase-trace.js';

export type RowStatus = 'ok' | 'over-budget' | 'out-of-memory' | 'failed';

export interface RowResult {
  id: string;
  status: RowStatus;
  /** img/s (train) or ms per encode + decode (infer); null when not measured. */
  value: number | null;
  unit: 'img/s' | 'ms';
  /** Timed iterations completed. */
  iterations: number;
  /** Seconds of each timed iteration. */
  times: number[];
  /** Seconds of the warm-up iterations (the first includes kernel compilation). */
  warmup: number[];
  /**
   * Which iteration the peak and profile figures describe, counting warm-ups from 1: the second
   * (the first one compiles pipelines and creates the optimizers' state), or the first when the
   * row stopped before a second.
   */
  profiledIteration?: number;
  /** Peak bytes held by tensors during the profiled iteration, as tfjs counts them (tf.memory().numBytes: aliases count again), when measured. */
  peakBytes: number | null;
  /** Peak bytes in live WebGPU buffers during the profiled iteration (tfjs's buffer pool included); webgpu only. */
  peakGpuBytes: number | null;
  /** GPU compute dispatches of the profiled iteration (--profile, webgpu). */
  dispatchesPerIteration?: number;
  /** The same by program (pipeline label), most first. */
  dispatchesByProgram?: Record<string, number>;
  /**
   * The same by phase of the iteration, in the order first seen: the step (training rows),
   * then its optimizer update, a tape's forward or backward pass (inner: R1's gradient, itself
   * differentiated), or untaped work.
   */
  dispatchesByPhase?: Record<string, number>;
  /** The same by the outermost tfjs kernel that encoded them ('(no tfjs kernel)': runners called directly), most first. */
  dispatchesByKernel?: Record<string, number>;
  /** tfjs kernels run in the profiled iteration (--profile, any backend). */
  kernelsPerIteration?: number;
  /** The same by kernel name, most first. */
  kernelsByName?: Record<string, number>;
  /** Wall seconds of the whole row, setup included. */
  seconds: number;
  note?: string;
}

export interface RowOptions {
  iters: number;
  warmup: number;
  /** Wall-clock limit of the row in seconds. */
  budgetSec: number;
  /**
   * Measure the peak tensor bytes (and on webgpu the peak GPU buffer bytes) of one iteration:
   * the second (a warm-up one when there are two, else the first timed one, timed with the
   * counting in it), or the first when there is no second.
   */
  peakMemory?: boolean;
  /** Also count, in that iteration, tfjs kernels by name and (webgpu) GPU dispatches by program. */
  profile?: boolean;
  /** A config to use instead of the row's preset (tests). */
  config?: AlaeConfig;
  onProgress?: (message: string) => void;
  /**
   * Called after every iteration with what the row has measured so far: a child process
   * passes it on, so a row stopped from outside still reports its warm-up times and profile.
   */
  onIteration?: (soFar: RowResult) => void;
}

/** Random weights drawn quickly (seededNormals), with each parameter's init scale. Much faster than AlaeModel.create for 50M parameters. */
export function benchModel(config: AlaeConfig, seed = 1): AlaeModel {
  const arrays = new Map<string, Float32Array>();
  let k = 0;
  for (const s of paramSpecs(config.model)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (s.init.kind === 'zeros') arrays.set(s.name, new Float32Array(n));
    else if (s.init.kind === 'ones') arrays.set(s.name, new Float32Array(n).fill(1));
    else {
      const v = seededNormals(seed * 7919 + k++, n);
      for (let i = 0; i < n; i++) v[i] *= s.init.std;
      arrays.set(s.name, v);
    }
  }
  arrays.set('dlatent_avg.buff', new Float32Array(styleCount(config.model) * config.model.latentSize));
  return AlaeModel.fromArrays(config, arrays);
}

/** Is this error about memory (host or device)? */
export function isMemoryError(e: unknown): boolean {
  const m = e instanceof Error ? `${e.name} ${e.message}` : String(e);
  return /out of memory|memory|allocation failed|Array buffer allocation|RangeError: Invalid typed array length|OOM|too large/i.test(m);
}

function rowConfig(row: BenchRow, o: RowOptions): { config: AlaeConfig; lod: number } {
  const config = o.config ?? resolveConfig(row.preset);
  const lod = Math.log2(row.resolution / 4);
  if (!Number.isInteger(lod) || lod < 0 || lod > config.model.layerCount - 1) {
    throw new AlaeError(`row ${row.id}: resolution ${row.resolution} is not a level of ${config.name}`);
  }
  return { config, lod };
}

function randomImages(n: number, res: number, channels: number, seed: number): Tensor4D {
  const v = seededNormals(seed, n * res * res * channels);
  for (let i = 0; i < v.length; i++) v[i] = Math.tanh(v[i]);
  return tf.tensor4d(v, [n, res, res, channels]);
}

function noiseFor(n: number, lod: number, seed: number): NoiseMaps {
  const maps: NoiseMaps = [];
  for (let k = 0; k < 2 * (lod + 1); k++) {
    const s = noiseShape(k, n);
    maps.push(tf.tensor4d(seededNormals(seed + k, s[0] * s[1] * s[2] * s[3]), s));
  }
  return maps;
}

/** Wait for everything queued so far by reading one value computed last. */
async function sync(t: Tensor): Promise<void> {
  const one = tf.tidy(() => tf.slice(tf.reshape(t, [-1]), [0], [1]));
  await one.data();
  one.dispose();
}

interface Timed {
  warmup: number[];
  times: number[];
  overBudget: boolean;
}

/** The iterations (0-based, warm-ups included) that run `watched`: the last one describes the row. */
const WATCHED = 2;

/**
 * Warm-up then timed runs of `once`, stopping before the budget would be passed. `watched`
 * runs instead of `once` for the first WATCHED iterations, warm-ups included: the profile
 * describes the second one, the first steady one, or the first where the row stops before.
 */
async function timeLoop(once: () => Promise<void>, o: RowOptions, start: number, label: string, watched: () => Promise<void> = once, after?: (t: Timed) => void): Promise<Timed> {
  const warmup: number[] = [];
  const times: number[] = [];
  const left = () => o.budgetSec - (performance.now() - start) / 1000;
  let run = 0;
  const next = (): (() => Promise<void>) => (run++ < WATCHED ? watched : once);
  for (let i = 0; i < o.warmup; i++) {
    const t = performance.now();
    await next()();
    warmup.push((performance.now() - t) / 1000);
    o.onProgress?.(`${label}: warm-up ${i + 1}/${o.warmup} ${warmup[i].toFixed(2)} s`);
    after?.({ warmup, times, overBudget: false });
    if (left() <= 0) return { warmup, times, overBudget: true };
  }
  for (let i = 0; i < o.iters; i++) {
    const last = times.at(-1) ?? warmup.at(-1) ?? 0;
    if (i > 0 && last > left()) break; // the next iteration would not fit
    const t = performance.now();
    await next()();
    times.push((performance.now() - t) / 1000);
    o.onProgress?.(`${label}: ${i + 1}/${o.iters} ${times[i].toFixed(3)} s`);
    after?.({ warmup, times, overBudget: false });
    if (left() <= 0) break;
  }
  return { warmup, times, overBudget: times.length === 0 };
}

/** Counts sorted most first, as a plain object for the JSON. */
function sortedRecord(m: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
}

const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

/** Run one row here (no isolation: use the CLI's child processes for budgets that must hold). */
export async function runRow(row: BenchRow, o: RowOptions): Promise<RowResult> {
  const start = performance.now();
  const unit = row.kind === 'train' ? 'img/s' : 'ms';
  const base: RowResult = { id: row.id, status: 'ok', value: null, unit, iterations: 0, times: [], warmup: [], peakBytes: null, peakGpuBytes: null, seconds: 0 };
  const held: { dispose(): void }[] = [];
  const watching = Boolean(o.peakMemory || o.profile);
  // Installed before the model is made, so every GPU buffer of the row is tracked.
  const gpu = watching ? installGpuTrace() : null;
  try {
    const { config, lod } = rowConfig(row, o);
    const model = benchModel(config, 1);
    held.push(model);
    const x = randomImages(row.batch, row.resolution, config.model.channels, 2);
    held.push(x);
    // One iteration, queued; what it returns waits for the device to finish it (a read of a
    // value computed last) and lets go of the output. The profile counts the queueing only.
    let queue: () => Promise<() => Promise<void>>;
    // What the profile's phases are named after: the optimizers and trainIteration's steps.
    let optimizers: LREQAdam[] = [];
    let stages: string[] = [''];
    if (row.kind === 'train') {
      const averaged = model.clone();
      held.push(averaged);
      const st: TrainState = {
        model,
        averaged,
        encoderOpt: new LREQAdam(model, ['encoder', 'mapping_d'], { lr: 0.0015, beta2: config.train.adamBeta2 }),
        decoderOpt: new LREQAdam(model, ['decoder', 'mapping_f'], { lr: 0.0015, beta2: config.train.adamBeta2 }),
        rng: new Rng(3, 101),
      };
      held.push(st.encoderOpt, st.decoderOpt);
      optimizers = [st.encoderOpt, st.decoderOpt];
      // After k optimizer steps (step 3 steps both, then the averaged networks move).
      stages = ['step 1 (E, D)', 'step 2 (F, G)', 'step 3 (E, G, F)', 'step 3 (E, G, F)', 'averaging'];
      const level = { lod, blend: 1, inTransition: false };
      const opts = { r1Gamma: config.train.r1Gamma, styleMixingProb: config.model.styleMixingProb, dlatentAvgBeta: config.model.dlatentAvgBeta, torchZeroGrad: true };
      const last = averaged.vars.get('mapping_f.map_blocks.0.fc.bias')!;
      queue = async () => {
        await trainIteration(st, x, level, opts);
        return () => sync(last);
      };
    } else {
      const noise = noiseFor(row.batch, lod, 5);
      held.push({ dispose: () => noise.forEach((t) => t.dispose()) });
      const pass = () => tf.tidy(() => model.decode(model.encode(x, { lod }), { lod, noise }));
      queue = async () => {
        const img = pass();
        return async () => {
          await sync(img);
          img.dispose();
        };
      };
    }
    const once = async (): Promise<void> => (await queue())();
    let watchedRuns = 0;
    const watched = async (): Promise<void> => {
      base.profiledIteration = ++watchedRuns;
      const kernels = traceKernels();
      const phases = o.profile ? tracePhases(optimizers, stages) : null;
      gpu?.begin(phases ? { phase: phases.current, kernel: () => kernels.outermost() ?? '(no tfjs kernel)' } : {});
      let settle: () => Promise<void>;
      try {
        settle = await queue();
      } finally {
        const k = kernels.stop();
        phases?.stop();
        const g = gpu?.end();
        base.peakBytes = k.peakTensorBytes;
        if (g) base.peakGpuBytes = g.peakBufferBytes;
        if (o.profile) {
          base.kernelsPerIteration = sum(k.byName);
          base.kernelsByName = sortedRecord(k.byName);
          if (g) {
            base.dispatchesPerIteration = sum(g.dispatches);
            base.dispatchesByProgram = sortedRecord(g.dispatches);
            base.dispatchesByPhase = Object.fromEntries(g.dispatchesBy.phase);
            base.dispatchesByKernel = sortedRecord(g.dispatchesBy.kernel);
          }
        }
      }
      await settle();
    };
    const soFar = (t: Timed): void => o.onIteration?.({ ...base, warmup: [...t.warmup], times: [...t.times], iterations: t.times.length, seconds: (performance.now() - start) / 1000 });
    const t = await timeLoop(once, o, start, row.id, watching ? watched : once, soFar);
    base.warmup = t.warmup;
    base.times = t.times;
    base.iterations = t.times.length;
    if (t.overBudget) {
      base.status = 'over-budget';
      const w = t.warmup.at(-1);
      base.note = w !== undefined ? `one warm-up iteration took ${w.toFixed(1)} s; budget ${o.budgetSec} s` : `budget ${o.budgetSec} s`;
    } else {
      const total = t.times.reduce((a, b) => a + b, 0);
      if (row.kind === 'train') base.value = (row.batch * t.times.length) / total;
      else base.value = median(t.times) * 1000;
      if (t.times.length < o.iters) base.note = `${t.times.length} of ${o.iters} iterations within the budget`;
    }
  } catch (e) {
    base.status = isMemoryError(e) ? 'out-of-memory' : 'failed';
    base.note = (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 200);
  } finally {
    for (const h of held.reverse()) {
      try {
        h.dispose();
      } catch {
        /* already gone */
      }
    }
    gpu?.uninstall();
    base.seconds = (performance.now() - start) / 1000;
  }
  return base;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
