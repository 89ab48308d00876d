/**
 * `alae eval [--model M] --data mnist`: measure a model on the held-out
 * digits (src/eval/mnist.ts) and print a table; --json keeps the report.
 * Falling short of a target is a result, not a failure: exit 0. Exit 1 when
 * something fails (the model cannot load, is not 1-channel 32x32), 2 on bad
 * usage.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parse, UsageError, usageErrors } from './args.js';
import { DEFAULT_MODEL } from '../api/bundled.js';
import { loadModel } from '../api/alae.js';
import { intOption, numberOption, progressRenderer, withModel, type ProgressRenderer } from './support.js';
import { requestedBackend } from '../backend/backend.js';
import { writeFileAtomic } from '../util/atomic.js';
import { checkOutputFile } from '../io/outputs.js';
import { CONFIDENT_VOTES, EVAL_K, MNIST_TARGETS, evaluateMnist, type EvalProgress, type EvalStage, type MnistEvalOptions, type MnistEvalReport } from '../eval/mnist.js';

const USAGE = `usage: alae eval [--model <model>] [--data mnist] [options]
  Measures a 1-channel 32x32 model on the 1000 held-out MNIST digits (never read by training),
  against the 9000 train digits: reconstruction MSE (images in [-1, 1]); the share of
  reconstructions a 1-nearest-neighbour pixel classifier over the train digits labels as the
  input's digit (target >= 90%), and the same classifier on the inputs (its ceiling); the
  ${EVAL_K}-NN accuracy of held-out w against the train digits' w (target >= 95%); and, for generated
  samples, the share that looks like one digit (${CONFIDENT_VOTES} of the ${EVAL_K} nearest train digits agree with
  the nearest) and their digits. Below a target is reported, not an error (exit 0).
  --model, -m <file>   the model (default: models/default.safetensors of this install)
  --data mnist         the data set (only mnist)
  --held-out <n>       use n held-out digits, spread evenly (default all 1000)
  --train <n>          compare against n train digits, spread evenly (default all 9000)
  --generated <n>      generated samples (default 1000; 0: none)
  --truncation <psi>   truncation of the generated samples, 0..1 (default 1: none)
  --seed <n>           noise seed of the reconstructions, first seed of the samples (default 0)
  --batch-size <n>     images per forward pass (default 256)
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
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  const lines = rows.map(([a, b, c]) => `  ${a.padEnd(w0)}  ${b.padStart(w1)}${c ? `  ${c}` : ''}`);
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
function stageProgress(quiet: boolean): ((p: EvalProgress) => void) & { end(): void } {
  let current: { stage: EvalStage; render: ProgressRenderer } | null = null;
  const fn = (p: EvalProgress): void => {
    if (quiet) return;
    if (current?.stage !== p.stage) {
      current?.render.end();
      current = { stage: p.stage, render: progressRenderer(STAGE_LABEL[p.stage]) };
    }
    // The renderer prints its label, not the stage field, so any stage name does.
    current.render({ stage: 'encode', done: p.done, total: p.total });
  };
  return Object.assign(fn, { end: () => current?.render.end() });
}

export async function evalCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS);
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const data = values.data ?? 'mnist';
  if (data !== 'mnist') throw new UsageError(`--data '${data}' is not supported: eval measures MNIST models only (--data mnist)`);
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
    const progress = stageProgress(Boolean(values.quiet));
    const report = await evaluateMnist(alae, { ...opts, onProgress: progress });
    progress.end();
    process.stdout.write(`${formatEvalReport(report)}\n`);
    if (values.json) {
      await writeFileAtomic(values.json, `${JSON.stringify(report, null, 2)}\n`);
      process.stdout.write(`report written to ${values.json}\n`);
    }
    return 0;
  });
}
