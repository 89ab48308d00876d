/**
 * Plumbing shared by the CLI job commands (encode, reconstruct, mix,
 * generate, interpolate, edit): the common options, opening the model,
 * rendering progress (the library only calls back; rendering happens here,
 * for the CLI alone), reporting failures, small parsers. Not part of the
 * library API (src/index.ts does not export it).
 */
import path from 'node:path';
import { AlaeError } from '../errors.js';
import { Alae, loadModel, type Failure, type JobProgress } from '../api/alae.js';
import { readLatents } from '../api/latents-file.js';
import { rowOf, type Latents } from '../api/latents.js';
import type { AlignChoice, FaceSelection } from '../face/faces.js';
import type { RawImage } from '../image/image.js';
import { requestedBackend } from '../backend/backend.js';

/** Options every job command takes (parseArgs config). */
export const COMMON_OPTIONS = {
  model: { type: 'string' as const, short: 'm' },
  preset: { type: 'string' as const },
  backend: { type: 'string' as const },
  'no-align': { type: 'boolean' as const },
  align: { type: 'string' as const },
  'batch-size': { type: 'string' as const },
  quiet: { type: 'boolean' as const, short: 'q' },
};

export const COMMON_HELP = `common options:
  --model, -m <file>    the model: an alae .safetensors model, or a reference ALAE checkpoint (.pth)
  --preset <name>       for a .pth: the preset it must match (default: inferred from its shapes)
  --backend <name>      auto (default, or ALAE_BACKEND), tensorflow-gpu, tensorflow, webgpu, wasm, cpu
  --no-align            inputs are aligned face crops already: only resize them (no face detection)
  --align ffhq|celeba   alignment (default: the model's training data: celeba for the CelebA 128 preset, else ffhq)
  --batch-size <n>      images per forward pass (default 8)
  --quiet, -q           no progress lines
exit status: 0 all done, 1 something failed (each failure is named on stderr), 2 bad usage.`;

export interface CommonValues {
  model?: string;
  preset?: string;
  backend?: string;
  'no-align'?: boolean;
  align?: string;
  'batch-size'?: string;
  quiet?: boolean;
}

/** A positive integer option (or its default). */
export function intOption(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(v) || v < min) throw new AlaeError(`--${name} must be an integer >= ${min} (got '${text}')`);
  return v;
}

/** A number option in [lo, hi]. */
export function numberOption(name: string, text: string | undefined, lo = -Infinity, hi = Infinity): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < lo || v > hi) throw new AlaeError(`--${name} must be a number${lo > -Infinity ? ` in [${lo}, ${hi}]` : ''} (got '${text}')`);
  return v;
}

/** Seeds as "1-16", "3,5,9" or a mix ("1-4,10"). */
export function parseSeeds(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new AlaeError(`bad --seeds '${text}': use e.g. 1-16 or 3,5,9`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || b < a) throw new AlaeError(`bad seed range '${part.trim()}'`);
    if (out.length + (b - a + 1) > 100_000) throw new AlaeError('at most 100000 seeds per run');
    for (let s = a; s <= b; s++) out.push(s);
  }
  return out;
}

/**
 * parseArgs takes one value per option occurrence; for list options
 * (`--sources a.jpg b.jpg c.jpg`) the values up to the next option are
 * folded into repeated occurrences.
 */
export function expandListOptions(argv: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.startsWith('--') ? a.slice(2).split('=')[0] : '';
    if (!names.includes(name) || a.includes('=')) {
      out.push(a);
      continue;
    }
    let j = i + 1;
    while (j < argv.length && !argv[j].startsWith('-')) out.push(a, argv[j++]);
    if (j === i + 1) out.push(a); // no value: let parseArgs complain
    i = j - 1;
  }
  return out;
}

function alignChoice(v: CommonValues): AlignChoice | undefined {
  if (v['no-align']) {
    if (v.align && v.align !== 'none') throw new AlaeError('--no-align and --align contradict each other');
    return 'none';
  }
  if (v.align === undefined) return undefined;
  if (v.align !== 'ffhq' && v.align !== 'celeba' && v.align !== 'none') throw new AlaeError(`--align must be ffhq, celeba or none (got '${v.align}')`);
  return v.align;
}

/** Load the model the options name (AlaeError if none is named or it cannot load). */
export async function openModel(v: CommonValues, faces: FaceSelection = 'all', useFaces = true): Promise<Alae> {
  if (!v.model) throw new AlaeError('--model is required (an alae .safetensors model or a reference .pth checkpoint)');
  return loadModel(v.model, {
    backend: requestedBackend(v.backend),
    preset: v.preset,
    align: useFaces ? alignChoice(v) : 'none',
    faces,
    batchSize: intOption('batch-size', v['batch-size'], 8),
  });
}

/** Check option values that do not need the model, before loading it. */
export function checkCommon(v: CommonValues): void {
  alignChoice(v);
  intOption('batch-size', v['batch-size'], 8);
  requestedBackend(v.backend);
}

export interface ProgressRenderer {
  (p: JobProgress): void;
  /** Finish the line (TTY) and stop. */
  end(): void;
}

/**
 * Progress on stderr: one self-updating line on a terminal; on anything
 * else (a log, a pipe) plain lines at every tenth of the way and at the end.
 */
export function progressRenderer(label: string, quiet = false, stream: NodeJS.WriteStream = process.stderr): ProgressRenderer {
  const tty = Boolean(stream.isTTY);
  let lastTenth = -1;
  let lastDraw = 0;
  let open = false;
  const render = ((p: JobProgress) => {
    if (quiet || p.total < 2) return;
    const pct = Math.floor((100 * p.done) / p.total);
    const text = `${label}: ${p.done}/${p.total} (${pct}%)${p.source ? ` ${path.basename(p.source)}` : ''}`;
    if (tty) {
      const now = Date.now();
      if (p.done < p.total && now - lastDraw < 100) return;
      lastDraw = now;
      stream.write(`\r\x1b[2K${text.slice(0, (stream.columns ?? 100) - 1)}`);
      open = true;
      if (p.done >= p.total) {
        stream.write('\n');
        open = false;
      }
      return;
    }
    const tenth = Math.floor((10 * p.done) / p.total);
    if (tenth > lastTenth || p.done >= p.total) {
      lastTenth = tenth;
      stream.write(`${text}\n`);
    }
  }) as ProgressRenderer;
  render.end = () => {
    if (open) stream.write('\n');
    open = false;
  };
  return render;
}

/** Name each failure on stderr, one line each. */
export function reportFailures(cmd: string, failures: readonly Failure[]): void {
  for (const f of failures) process.stderr.write(`alae ${cmd}: ${f.error.message}\n`);
}

/** Latents files can stand in for images: `file.safetensors` or `file.json`, optionally `#row`. */
export function isLatentsRef(arg: string): boolean {
  return /\.(safetensors|json)(#\d+)?$/i.test(arg);
}

/**
 * One w for an input: a row of a latents file, or the largest face of an
 * image. Throws an AlaeError naming the input when it yields nothing.
 */
export async function oneLatent(alae: Alae, input: string): Promise<{ w: Latents; crop?: RawImage }> {
  if (isLatentsRef(input)) {
    const m = /^(.*?)(?:#(\d+))?$/.exec(input)!;
    const file = m[1];
    const row = m[2] === undefined ? 0 : Number(m[2]);
    const { latents } = await readLatents(file);
    if (latents.size !== alae.latentSize) throw new AlaeError(`latents of size ${latents.size} do not fit this model (size ${alae.latentSize})`, file);
    if (row >= latents.count) throw new AlaeError(`row ${row} does not exist (the file has ${latents.count})`, file);
    return { w: { kind: 'w', count: 1, size: latents.size, data: rowOf(latents, row).slice() } };
  }
  const r = await alae.encode([input], { faces: 'largest', throwOnError: true });
  if (r.latents.count === 0) throw new AlaeError('no face encoded', input);
  return { w: r.latents, crop: r.faces[0].image };
}

/** Run a job with the model, always disposing it. */
export async function withModel<T>(alae: Alae, job: (alae: Alae) => Promise<T>): Promise<T> {
  try {
    return await job(alae);
  } finally {
    alae.dispose();
  }
}

/** Print a command's usage; 0 when asked for with --help, else 2 (bad usage). */
export function usage(text: string, asked: boolean): number {
  (asked ? process.stdout : process.stderr).write(`${text}\n\n${COMMON_HELP}\n`);
  return asked ? 0 : 2;
}
