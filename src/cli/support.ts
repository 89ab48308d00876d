/**
 * Plumbing shared by the CLI job commands (encode, reconstruct, mix,
 * generate, interpolate, edit, tui): the common options, choosing and
 * opening the model, rendering progress and a batch's summary (the library
 * only calls back; rendering happens here, for the CLI alone), stopping
 * cleanly on Ctrl-C, small parsers. Not part of the library API
 * (src/index.ts does not export it).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { AlaeError } from '../errors.js';
import { Alae, loadModel, type Failure, type JobProgress, type LoadModelOptions } from '../api/alae.js';
import { readLatents } from '../api/latents-file.js';
import { rowOf, type Latents } from '../api/latents.js';
import { DEFAULT_MODEL } from '../api/bundled.js';
import type { AlignChoice, FaceSelection } from '../face/faces.js';
import type { RawImage } from '../image/image.js';
import { IMAGE_EXTENSIONS } from '../image/list-images.js';
import { requestedBackend, type BackendRequest } from '../backend/backend.js';
import { readModelFile } from '../io/model-file.js';
import { UsageError, usageErrors } from './args.js';

/** Options every job command takes (parseArgs config). */
export const COMMON_OPTIONS = {
  model: { type: 'string' as const, short: 'm' },
  preset: { type: 'string' as const },
  backend: { type: 'string' as const },
  'no-align': { type: 'boolean' as const },
  align: { type: 'string' as const },
  'batch-size': { type: 'string' as const },
  quiet: { type: 'boolean' as const, short: 'q' },
  force: { type: 'boolean' as const, short: 'f' },
};

/** For commands whose inputs may be folders. */
export const RECURSIVE_OPTION = { recursive: { type: 'boolean' as const, short: 'r' } };

/** How to get a model when none is given and the bundled one does not fit (README, "Using the published ALAE weights"). */
export const GET_A_MODEL =
  "pass --model: the published ALAE weights ('alae import model_157.pth --out ffhq.safetensors', README \"Using the published ALAE weights\"), " +
  "or a model you trained ('alae train ... --out run': run/model.safetensors)";

/** The common options' help (`force`: the command writes files and takes --force). */
export const commonHelp = (force = true): string => (force ? COMMON_HELP : COMMON_HELP.split('\n').filter((l) => !l.startsWith('  --force')).join('\n'));

const COMMON_HELP = `common options:
  --model, -m <file>    the model: an alae .safetensors model, a training checkpoint, or a reference ALAE
                        checkpoint (.pth). Default: the bundled model (MNIST digits) when every input is a
                        1-channel 32x32 image; faces need a face model (README "Using the published ALAE weights")
  --preset <name>       for a .pth: the preset it must match (default: inferred from its shapes)
  --backend <name>      auto (default, or ALAE_BACKEND), native, tensorflow-gpu, tensorflow, webgpu, wasm, cpu
  --no-align            inputs are aligned face crops already: only resize them (no face detection)
  --align ffhq|celeba   alignment (default: the model's training data: celeba for the CelebA 128 preset, else ffhq)
  --batch-size <n>      faces per forward pass (default 8; 1 for models of 256x256 and up, so each face is
                        written and reported as it is done)
  --force, -f           replace outputs that exist (default: stop before any work, naming them)
  --quiet, -q           no progress lines
Folders given as inputs: their image files (${IMAGE_EXTENSIONS.join(' ')}; not hidden
ones), sorted, not their subfolders unless --recursive (-r). Output images are written in the format of
their extension: .png, .jpg/.jpeg or .webp. Ctrl-C stops after the current batch, keeping what is done.
exit status: 0 all done, 1 something failed (each failure is named on stderr), 2 bad usage, 130 interrupted.`;

export interface CommonValues {
  model?: string;
  preset?: string;
  backend?: string;
  'no-align'?: boolean;
  align?: string;
  'batch-size'?: string;
  quiet?: boolean;
  force?: boolean;
  recursive?: boolean;
}

/** The common options, checked and typed. */
export interface JobOptions {
  /** The model named by --model (none: choose, see chooseModel). */
  model?: string;
  preset?: string;
  backend: BackendRequest;
  align?: AlignChoice;
  /** --batch-size, when given. */
  batchSize?: number;
  quiet: boolean;
  force: boolean;
  recursive: boolean;
}

/** A positive integer option (or its default). A bad value is a usage error. */
export function intOption(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(v) || v < min) throw new UsageError(`--${name} must be an integer >= ${min} (got '${text}')`);
  return v;
}

/** A number option in [lo, hi]. A bad value is a usage error. */
export function numberOption(name: string, text: string | undefined, lo = -Infinity, hi = Infinity): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < lo || v > hi) throw new UsageError(`--${name} must be a number${lo > -Infinity ? ` in [${lo}, ${hi}]` : ''} (got '${text}')`);
  return v;
}

/** Seeds as "1-16", "3,5,9" or a mix ("1-4,10"). A bad list is a usage error. */
export function parseSeeds(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new UsageError(`bad --seeds '${text}': use e.g. 1-16 or 3,5,9`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || b < a) throw new UsageError(`bad seed range '${part.trim()}' in --seeds`);
    if (out.length + (b - a + 1) > 100_000) throw new UsageError('at most 100000 seeds per run');
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
    if (j === i + 1) out.push(a); // no value: let parse complain
    i = j - 1;
  }
  return out;
}

function alignChoice(v: CommonValues): AlignChoice | undefined {
  if (v['no-align']) {
    if (v.align && v.align !== 'none') throw new UsageError('--no-align and --align contradict each other');
    return 'none';
  }
  if (v.align === undefined) return undefined;
  if (v.align !== 'ffhq' && v.align !== 'celeba' && v.align !== 'none') throw new UsageError(`--align must be ffhq, celeba or none (got '${v.align}')`);
  return v.align;
}

/** The common options, checked (usage errors) before anything is loaded. */
export function jobOptions(v: CommonValues): JobOptions {
  return {
    model: v.model,
    preset: v.preset,
    backend: usageErrors(() => requestedBackend(v.backend)),
    align: alignChoice(v),
    batchSize: v['batch-size'] === undefined ? undefined : intOption('batch-size', v['batch-size'], 8),
    quiet: Boolean(v.quiet),
    force: Boolean(v.force),
    recursive: Boolean(v.recursive),
  };
}

/** Faces per forward pass: --batch-size, else 8, or 1 for models of 256x256 and up (a face there is seconds of work). */
export function batchSizeFor(alae: Alae, o: JobOptions): number {
  return o.batchSize ?? (alae.resolution >= 256 ? 1 : 8);
}

/** Latents files can stand in for images: `file.safetensors` or `file.json`, optionally `#row`. */
export function isLatentsRef(arg: string): boolean {
  return /\.(safetensors|json)(#\d+)?$/i.test(arg);
}

/** Why an input does not suit the bundled model (a 1-channel 32x32 image, or w of its size), or null when it does or cannot be read (the job names those). */
async function misfit(input: string, latentSize: () => Promise<number>): Promise<string | null> {
  if (isLatentsRef(input)) {
    const file = input.replace(/#\d+$/, '');
    const got = await readLatents(file).then(
      (r) => r.latents.size,
      () => null,
    );
    const want = await latentSize();
    return got === null || got === want ? null : `latents of size ${got}, the bundled model's are ${want}`;
  }
  const m = await sharp(input)
    .metadata()
    .catch(() => null);
  if (!m || !m.width || !m.height) return null;
  if (m.width !== 32 || m.height !== 32) return `${m.width}x${m.height}`;
  // Gray content in an RGB file counts as one channel (the bundled sample digits are such files).
  const { data, info } = await sharp(input).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  for (let i = 0; info.channels === 3 && i < data.length; i += 3) if (data[i] !== data[i + 1] || data[i] !== data[i + 2]) return 'colour, not gray';
  return null;
}

/**
 * The model file a job runs: --model, else the bundled model when it fits
 * every input (a 1-channel 32x32 image; generation has none), else a usage
 * error that says how to get one.
 */
export async function chooseModel(o: JobOptions, inputs: readonly string[]): Promise<string> {
  if (o.model) return o.model;
  if (!existsSync(DEFAULT_MODEL)) throw new UsageError(`no --model given, and this install has no bundled model; ${GET_A_MODEL}`);
  let size: number | undefined;
  const latentSize = async () => (size ??= (await readModelFile(DEFAULT_MODEL)).config.model.latentSize);
  for (const input of inputs) {
    const why = await misfit(input, latentSize);
    if (why) throw new UsageError(`no --model given, and the bundled model (MNIST digits, 1-channel 32x32) does not fit ${input} (${why}); ${GET_A_MODEL}`);
  }
  return DEFAULT_MODEL;
}

/** The library's load options from the common options. */
export function loadOptions(o: JobOptions, faces: FaceSelection = 'all', useFaces = true): LoadModelOptions {
  return { backend: o.backend, preset: o.preset, align: useFaces ? o.align : 'none', faces, batchSize: o.batchSize };
}

/** Load the model for a job's inputs (chooseModel), with the common options. */
export async function openModel(o: JobOptions, inputs: readonly string[], faces: FaceSelection = 'all', useFaces = true): Promise<Alae> {
  return loadModel(await chooseModel(o, inputs), loadOptions(o, faces, useFaces));
}

export interface ProgressRenderer {
  (p: JobProgress): void;
  /** Faces finished so far (shown with the inputs; on long work a line per face). */
  faces(n: number, source?: string): void;
  /** Work within the current batch (`refining 2 faces: step 40/100`), shown after the rest until the next update; undefined clears it. */
  detail(text: string | undefined): void;
  /** Finish the line (TTY) and stop. */
  end(): void;
}

/** On long work, a plain line at least this often (ms), so a slow face is never silent. */
const HEARTBEAT_MS = 5000;

/**
 * Progress on stderr: one self-updating line on a terminal; on anything
 * else (a log, a pipe) plain lines at every tenth of the way, at the end,
 * and for each face finished (or step of work within a batch) once the
 * last line is 5 s old.
 */
export function progressRenderer(label: string, quiet = false, stream: NodeJS.WriteStream = process.stderr): ProgressRenderer {
  const tty = Boolean(stream.isTTY);
  let lastTenth = -1;
  let lastDraw = 0;
  let lastLine = Date.now();
  let open = false;
  let state: JobProgress | null = null;
  let faces: number | null = null;
  let faceSource: string | undefined;
  let detail: string | undefined;
  const text = (): string => {
    const p = state;
    const counts = [p ? `${p.done}/${p.total} (${Math.floor((100 * p.done) / p.total)}%)` : '', faces !== null ? `${faces} face${faces === 1 ? '' : 's'} done` : ''];
    const src = faceSource ?? p?.source;
    const head = `${counts.filter(Boolean).join(', ')}${src ? ` ${path.basename(src)}` : ''}`;
    return `${label}: ${[head, detail].filter(Boolean).join('; ')}`;
  };
  /**
   * What moved on: the inputs, a face finished, or work within a batch
   * (`detail`). On a terminal the line is redrawn (at most every 100 ms but
   * for a finished face or the last input); elsewhere a plain line at each
   * tenth of the inputs, or for a face or detail once the last line is old.
   */
  const draw = (kind: 'inputs' | 'face' | 'detail'): void => {
    const p = state;
    if (quiet || (faces === null && detail === undefined && (!p || p.total < 2))) return;
    const finished = p !== null && p.done >= p.total;
    if (tty) {
      const now = Date.now();
      if (kind !== 'face' && !(kind === 'inputs' && finished) && now - lastDraw < 100) return;
      lastDraw = now;
      stream.write(`\r\x1b[2K${text().slice(0, (stream.columns ?? 100) - 1)}`);
      open = true;
      if (finished && faces === null && detail === undefined) {
        stream.write('\n');
        open = false;
      }
      return;
    }
    const tenth = p ? Math.floor((10 * p.done) / p.total) : -1;
    if (kind === 'inputs' ? tenth > lastTenth : Date.now() - lastLine >= HEARTBEAT_MS) {
      lastTenth = Math.max(lastTenth, tenth);
      lastLine = Date.now();
      stream.write(`${text()}\n`);
    }
  };
  const render = ((p: JobProgress) => {
    faceSource = undefined;
    state = p;
    draw('inputs');
  }) as ProgressRenderer;
  render.faces = (n, source) => {
    faces = n;
    faceSource = source;
    detail = undefined;
    draw('face');
  };
  render.detail = (text) => {
    detail = text;
    draw('detail');
  };
  render.end = () => {
    if (open) stream.write('\n');
    open = false;
  };
  return render;
}

/** The reason of a failure, without the input's name (which the summary gives). */
function reasonOf(f: Failure): string {
  const m = f.error.message;
  return m.startsWith(`${f.source}: `) ? m.slice(f.source.length + 2) : m;
}

/**
 * A batch's last line: `12 of 13 inputs done; failed: a.jpg (no face found)`
 * (the first five failures named; all were named as they happened).
 */
export function summaryLine(done: number, total: number, failures: readonly Failure[], unit = 'input', interrupted = false): string {
  const what = `${done} of ${total} ${unit}${total === 1 ? '' : 's'} done`;
  const shown = failures.slice(0, 5).map((f) => `${path.basename(f.source)} (${reasonOf(f)})`);
  const more = failures.length > 5 ? `, and ${failures.length - 5} more` : '';
  return `${what}${interrupted ? ' (interrupted)' : ''}${failures.length ? `; failed: ${shown.join(', ')}${more}` : ''}`;
}

/** Name each failure on stderr, one line each. */
export function reportFailures(cmd: string, failures: readonly Failure[]): void {
  for (const f of failures) process.stderr.write(`alae ${cmd}: ${f.error.message}\n`);
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

/** Print a command's usage: exit 0 when asked for with --help; else a usage error (a required option is missing). */
export function usage(text: string, asked: boolean, missing = 'missing arguments'): number {
  if (!asked) throw new UsageError(missing);
  process.stdout.write(`${text}\n\n${commonHelp()}\n`);
  return 0;
}
