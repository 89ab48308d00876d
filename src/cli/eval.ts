/**
 * `alae eval [--model M] --data mnist`: measure a model on the held-out
 * digits (src/eval/mnist.ts) and print a table; `--data <folder>`: a face
 * model on a folder of faces (src/eval/faces.ts). --refine N adds refined
 * reconstructions; --json keeps the report. Falling short of a target is a
 * result, not a failure: exit 0. Exit 1 when something fails (the model
 * cannot load, does not fit the data), 2 on bad usage.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse, UsageError, usageErrors } from './args.js';
import { DEFAULT_MODEL } from '../api/bundled.js';
import { loadModel } from '../api/alae.js';
import { GET_A_MODEL, intOption, numberOption, progressRenderer, withModel, type ProgressRenderer } from './support.js';
import { REFINE_HELP, REFINE_OPTIONS, describeRefine, refineChoice, type RefineChoice } from './refining.js';
import { requestedBackend } from '../backend/backend.js';
import { writeFileAtomic } from '../util/atomic.js';
import { checkOutputFile } from '../io/outputs.js';
import { CONFIDENT_VOTES, EVAL_K, MNIST_TARGETS, evaluateMnist, type EvalStage, type MnistEvalOptions, type MnistEvalReport } from '../eval/mnist.js';
import { evaluateFaces, type FaceEvalReport, type FaceEvalStage } from '../eval/faces.js';
import type { AlignChoice } from '../face/faces.js';

const USAGE = `usage: alae eval [--model <model>] [--data mnist|<folder of faces>] [options]
  --data mnist (the default): measures a 1-channel 32x32 model on the 1000 held-out MNIST digits (never read by training),
  against the 9000 train digits: reconstruction MSE (images in [-1, 1]); the share of
  reconstructions a 1-nearest-neighbour pixel classifier over the train digits labels as the
  input's digit (target >= 90%), and the same classifier on the inputs (its ceiling); the
  ${EVAL_K}-NN accuracy of held-out w against the train digits' w (target >= 95%); and, for generated
  samples, the share that looks like one digit (${CONFIDENT_VOTES} of the ${EVAL_K} nearest train digits agree with
  the nearest) and their digits. Below a target is reported, not an error (exit 0).
  --data <folder>: a face model (--model required) on the faces of a folder's images: pixel MSE
  (images in [-1, 1]) and identity similarity (cosine of face-api's face descriptors of input and
  reconstruction; 1 = the same person to the recognition net), mean over the faces.
  With --refine N, both measure the refined reconstructions too (a 'refined' section).
  --model, -m <file>   the model (default: models/default.safetensors of this install)
  --data <mnist|dir>   the data (default mnist)
  --held-out <n>       mnist: use n held-out digits, spread evenly (default all 1000)
  --train <n>          mnist: compare against n train digits, spread evenly (default all 9000)
  --generated <n>      mnist: generated samples (default 1000; 0: none)
  --truncation <psi>   mnist: truncation of the generated samples, 0..1 (default 1: none)
  --limit <n>          faces: the first n images of the folder (default all)
  --no-align           faces: the images are aligned crops already (no face detection)
  --align ffhq|celeba  faces: alignment (default: the model's training data)
  --seed <n>           noise seed of the reconstructions, first seed of the samples (default 0)
  --batch-size <n>     images per forward pass (default 256 for mnist, the model's for faces)
${REFINE_HELP}
  --json <file>        also write the report as JSON (atomically); one that exists stops the command
                       before any work unless --force
  --force, -f          replace the --json file if it exists
  --backend <name>     auto (default, or ALAE_BACKEND), tensorflow-gpu, tensorflow, webgpu, wasm, cpu, native
  --quiet, -q          no progress lines
exit status: 0 measured (whether or not the targets are met), 1 something failed, 2 bad usage.`;

const OPTIONS = {
  model: { type: 'string' as const, short: 'm' },
  data: { type: 'string' as const },
  'held-out': { type: 'string' as const },
  train: { type: 'string' as const },
  generated: { type: 'string' as const },
  truncation: { type: 'string' as const },
  seed: { type: 'string' as const },
  'batch-size': { type: 'string' as const },
  limit: { type: 'string' as const },
  'no-align': { type: 'boolean' as const },
  align: { type: 'string' as const },
  ...REFINE_OPTIONS,
  json: { type: 'string' as const },
  backend: { type: 'string' as const },
  quiet: { type: 'boolean' as const, short: 'q' },
  force: { type: 'boolean' as const, short: 'f' },
};

const STAGE_LABEL: Record<EvalStage, string> = {
  'encode-train': 'encode train digits',
  'encode-held-out': 'encode held-out digits',
  reconstruct: 'reconstruct',
  refine: 'refine reconstructions',
  generate: 'generate',
  'pixel-knn': 'nearest digits (pixels)',
  'w-knn': 'nearest digits (w)',
};

const FACE_STAGE_LABEL: Record<FaceEvalStage, string> = {
  encode: 'encode faces',
  reconstruct: 'reconstruct',
  refine: 'refine reconstructions',
  identity: 'face descriptors',
};

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** The printed table: metric, value, and target with PASS/below for the two targeted ones. */
export function formatEvalReport(r: MnistEvalReport): string {
  const rows: [string, string, string][] = [
    ['reconstruction MSE (images in [-1, 1])', r.reconstructionMse.toFixed(4), ''],
    ['reconstruction keeps its digit (pixel 1-NN)', pct(r.reconstructionLabelKept), target(r.reconstructionLabelKept, MNIST_TARGETS.reconstructionLabelKept)],
    ['  pixel 1-NN on the inputs (its ceiling)', pct(r.pixel1nnOnInputs), ''],
    [`w ${EVAL_K}-NN accuracy`, pct(r.wKnnAccuracy), target(r.wKnnAccuracy, MNIST_TARGETS.wKnnAccuracy)],
  ];
  if (r.generated) {
    const g = r.generated;
    rows.push([`generated: one clear digit (${CONFIDENT_VOTES} of ${EVAL_K} NN agree)`, pct(g.confidentShare), '']);
  }
  if (r.refined) {
    const f = r.refined;
    rows.push(
      [`refined (${describeRefine(f)}): MSE`, f.reconstructionMse.toFixed(4), `${change(f.reconstructionMse, r.reconstructionMse)} vs one pass`],
      ['  refined: keeps its digit (pixel 1-NN)', pct(f.reconstructionLabelKept), target(f.reconstructionLabelKept, MNIST_TARGETS.reconstructionLabelKept)],
      ['  refined: seconds per image', f.secondsPerImage.toFixed(3), ''],
    );
  }
  const lines = table(rows);
  if (r.generated) lines.push(`  generated, by nearest train digit: ${r.generated.labelHistogram.map((c, d) => `${d}:${c}`).join(' ')}`);
  const head =
    `${r.model} (${r.config}) on MNIST: ${r.heldOut} held-out digits against ${r.train} train digits` +
    (r.generated ? `, ${r.generated.count} samples (seeds ${r.generated.firstSeed}-${r.generated.firstSeed + r.generated.count - 1}, psi ${r.generated.truncationPsi})` : '') +
    `; ${r.backend}, ${r.seconds.toFixed(1)} s`;
  return [head, ...lines].join('\n');
}

function target(value: number, goal: number): string {
  return `target >= ${pct(goal)}  ${value >= goal ? 'PASS' : 'below'}`;
}

/** `-58.4%`: the change from `base`. */
function change(value: number, base: number): string {
  const c = (100 * (value - base)) / base;
  return `${c >= 0 ? '+' : ''}${c.toFixed(1)}%`;
}

/** Rows of label, value, remark, aligned. */
function table(rows: [string, string, string][]): string[] {
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  return rows.map(([a, b, c]) => `  ${a.padEnd(w0)}  ${b.padStart(w1)}${c ? `  ${c}` : ''}`);
}

/** The printed table of a face evaluation: one-pass and refined MSE and identity. */
export function formatFaceReport(r: FaceEvalReport): string {
  const rows: [string, string, string][] = [
    ['one pass: MSE (images in [-1, 1])', r.onePass.mse.toFixed(4), ''],
    ['one pass: identity (descriptor cosine)', r.onePass.identity.toFixed(3), ''],
  ];
  if (r.refined) {
    const f = r.refined;
    rows.push(
      [`refined (${describeRefine(f)}): MSE`, f.mse.toFixed(4), `${change(f.mse, r.onePass.mse)} vs one pass`],
      ['  refined: identity (descriptor cosine)', f.identity.toFixed(3), ''],
      ['  refined: seconds per face', f.secondsPerImage.toFixed(2), ''],
    );
  }
  const failed = r.failures.length ? `; ${r.failures.length} input${r.failures.length === 1 ? '' : 's'} without a face` : '';
  return [`${r.model} (${r.config}) on ${r.faces} face${r.faces === 1 ? '' : 's'}${failed}; ${r.backend}, ${r.seconds.toFixed(1)} s`, ...table(rows)].join('\n');
}

/** The library options from the command line (a usage error on a bad value). */
function evalOptions(values: { [K in 'held-out' | 'train' | 'generated' | 'truncation' | 'seed' | 'batch-size' | 'backend']?: string }): MnistEvalOptions {
  const psi = numberOption('truncation', values.truncation, 0, 1);
  usageErrors(() => requestedBackend(values.backend));
  return {
    heldOutLimit: values['held-out'] === undefined ? undefined : intOption('held-out', values['held-out'], 0, 1),
    trainLimit: values.train === undefined ? undefined : intOption('train', values.train, 0, EVAL_K),
    generatedCount: intOption('generated', values.generated, 1000, 0),
    seed: intOption('seed', values.seed, 0, 0),
    batchSize: intOption('batch-size', values['batch-size'], 256),
    truncation: psi === undefined || psi === 1 ? undefined : { psi },
  };
}

/** Progress on stderr, one renderer (and line) per stage. */
function stageProgress<S extends string>(quiet: boolean, labels: Record<S, string>): ((p: { stage: S; done: number; total: number }) => void) & { end(): void } {
  let current: { stage: S; render: ProgressRenderer } | null = null;
  const fn = (p: { stage: S; done: number; total: number }): void => {
    if (quiet) return;
    if (current?.stage !== p.stage) {
      current?.render.end();
      current = { stage: p.stage, render: progressRenderer(labels[p.stage]) };
    }
    // The renderer prints its label, not the stage field, so any stage name does.
    current.render({ stage: 'encode', done: p.done, total: p.total });
  };
  return Object.assign(fn, { end: () => current?.render.end() });
}

/** A folder given as --data (faces), or null for mnist; anything else is a usage error. */
function faceFolder(data: string): string | null {
  if (data === 'mnist') return null;
  let dir = false;
  try {
    dir = statSync(data).isDirectory();
  } catch {
    // not a folder: reported below
  }
  if (!dir) throw new UsageError(`--data '${data}' is not supported: give mnist, or a folder of face images`);
  return data;
}

/** --no-align / --align for the faces. */
function alignOf(values: { 'no-align'?: boolean; align?: string }): AlignChoice | undefined {
  if (values['no-align']) {
    if (values.align && values.align !== 'none') throw new UsageError('--no-align and --align contradict each other');
    return 'none';
  }
  if (values.align !== undefined && values.align !== 'ffhq' && values.align !== 'celeba' && values.align !== 'none') throw new UsageError(`--align must be ffhq, celeba or none (got '${values.align}')`);
  return values.align as AlignChoice | undefined;
}

export async function evalCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS);
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const faces = faceFolder(values.data ?? 'mnist');
  const refine = refineChoice(values);
  if (faces) {
    const stray = (['held-out', 'train', 'generated', 'truncation'] as const).find((k) => values[k] !== undefined);
    if (stray) throw new UsageError(`--${stray} is for --data mnist`);
    return evalFaces(faces, values, refine);
  }
  const stray = (['limit', 'align', 'no-align'] as const).find((k) => values[k] !== undefined);
  if (stray) throw new UsageError(`--${stray} is for --data <folder of faces>`);
  const opts = evalOptions(values);
  let model = values.model;
  if (!model) {
    if (!existsSync(DEFAULT_MODEL)) {
      throw new UsageError(
        `no --model given, and this install has no bundled model (${path.relative(process.cwd(), DEFAULT_MODEL) || DEFAULT_MODEL}); ` +
          `pass a 1-channel 32x32 model, e.g. one trained with 'alae train --preset mnist-small --data mnist --out run' (run/model.safetensors)`,
      );
    }
    model = DEFAULT_MODEL;
  }
  if (values.json) await checkOutputFile(values.json, { overwrite: values.force });

  // No face detector: the digits are taken as they are.
  const alae = await loadModel(model, { backend: requestedBackend(values.backend), align: 'none', batchSize: opts.batchSize });
  return withModel(alae, async () => {
    const progress = stageProgress(Boolean(values.quiet), STAGE_LABEL);
    const report = await evaluateMnist(alae, { ...opts, ...(refine ? { refine } : {}), onProgress: progress });
    progress.end();
    process.stdout.write(`${formatEvalReport(report)}\n`);
    return writeReport(values.json, report);
  });
}

/** `alae eval --data <folder>`: a face model on the folder's faces. */
async function evalFaces(
  folder: string,
  values: { model?: string; backend?: string; seed?: string; 'batch-size'?: string; limit?: string; 'no-align'?: boolean; align?: string; json?: string; force?: boolean; quiet?: boolean },
  refine: RefineChoice | null,
): Promise<number> {
  if (!values.model) throw new UsageError(`--data ${folder} needs a face model: ${GET_A_MODEL}`);
  const backend = usageErrors(() => requestedBackend(values.backend));
  const align = alignOf(values);
  const seed = intOption('seed', values.seed, 0, 0);
  const batchSize = values['batch-size'] === undefined ? undefined : intOption('batch-size', values['batch-size'], 1);
  const limit = values.limit === undefined ? undefined : intOption('limit', values.limit, 1);
  if (values.json) await checkOutputFile(values.json, { overwrite: values.force });

  const alae = await loadModel(values.model, { backend, align, batchSize });
  return withModel(alae, async () => {
    const progress = stageProgress(Boolean(values.quiet), FACE_STAGE_LABEL);
    const report = await evaluateFaces(alae, folder, { seed, limit, ...(refine ? { refine } : {}), onProgress: progress });
    progress.end();
    for (const f of report.failures) process.stderr.write(`alae eval: ${f.message}\n`);
    process.stdout.write(`${formatFaceReport(report)}\n`);
    return writeReport(values.json, report);
  });
}

async function writeReport(file: string | undefined, report: object): Promise<number> {
  if (file) {
    await writeFileAtomic(file, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`report written to ${file}\n`);
  }
  return 0;
}
