/**
 * `alae tui [--model M] [images or folders...]`: explore a model in the
 * terminal. A file list, the selected photo beside its reconstruction, and
 * a mixing view (coarse / middle / fine styles from A or B). The model runs
 * in a worker thread (src/tui/app/worker-engine.ts) so the UI never waits
 * on it. Keys: press ? in the TUI.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_MODEL, SAMPLES_DIR } from '../api/bundled.js';
import { parse } from './args.js';
import { AlaeError } from '../errors.js';
import { COMMON_HELP, COMMON_OPTIONS, checkCommon, intOption, numberOption, type CommonValues } from './support.js';
import { listImages, IMAGE_EXTENSIONS } from '../image/image.js';
import { detectGraphics, GRAPHICS_MODES } from '../tui/image/detect.js';

const USAGE = `usage: alae tui [--model <model>] [images or folders...] [options]
  Explore a model in the terminal: pick a photo and see its reconstruction; mix two faces,
  taking each level of styles (coarse, middle, fine) from A or B; change the truncation and
  the noise seed; save what you see as PNG. Press ? in the TUI for the keys.
  --graphics <mode>     how images are drawn: ${GRAPHICS_MODES.join(', ')} (default: detected from the
                        terminal: kitty/Ghostty -> kitty, iTerm2/WezTerm -> iterm, foot/mlterm -> sixel,
                        else coloured half-blocks; or ALAE_GRAPHICS)
  --seed <n>            noise seed to start with (default 0; r re-rolls it)
  --psi <x>             truncation to start with, 0..1 (default 1: none; + and - change it)
  --out <dir>           where s saves PNGs (default: the current folder)
  --no-worker           run the model in the UI thread (the UI stalls during each forward pass)
  Mixing levels: from 64x64 up the reference's split, coarse = slots 0-3 (4x4-8x8), middle =
  4-7 (16x16-32x32), fine = 8 to the end; smaller models by resolution (32x32: coarse 4x4-8x8,
  middle 16x16, fine 32x32). The model runs in a worker thread: the UI stays live while it works
  (Esc cancels; results are cached per image and per mix).
  With no --model: models/default.safetensors of this install. With no images: the bundled
  models/samples/, else the images in the current folder. Aligned crops: pass --no-align.`;

export const NO_MODEL_HELP = `alae tui: no --model given, and this install has no bundled model (${path.relative(process.cwd(), DEFAULT_MODEL) || DEFAULT_MODEL}).
Get a model, then run 'alae tui --model <model.safetensors> [images...]':
  - import the published ALAE weights (the reference ALAE's FFHQ, CelebA-HQ or bedroom
    checkpoints, a model_*.pth file):
      alae import <model.pth> --out model.safetensors
    (or pass the .pth to --model directly)
  - or train one on your own images:
      alae train --data <image folder> --out run --preset <name>   (the model is run/model.safetensors)`;

/** The images to show: the arguments (folders expanded), else the bundled samples, else the current folder. */
export async function resolveImages(args: readonly string[], cwd = process.cwd()): Promise<{ files: string[]; from: string }> {
  if (args.length) return { files: await listImages(args), from: 'the arguments' };
  if (existsSync(SAMPLES_DIR)) {
    const files = await listImages([SAMPLES_DIR]);
    if (files.length) return { files, from: SAMPLES_DIR };
  }
  const files = (await listImages([cwd])).map((f) => path.relative(cwd, f) || f);
  return { files, from: cwd };
}

export async function tuiCommand(argv: string[]): Promise<number> {
  let values: CommonValues & { graphics?: string; seed?: string; psi?: string; out?: string; 'no-worker'?: boolean; help?: boolean };
  let positionals: string[];
  let seed: number;
  let psi: number;
  let graphics;
  try {
    ({ values, positionals } = parse(argv, {
      ...COMMON_OPTIONS,
      graphics: { type: 'string' },
      seed: { type: 'string' },
      psi: { type: 'string' },
      out: { type: 'string', short: 'o' },
      'no-worker': { type: 'boolean' },
    }));
    if (values.help) {
      process.stdout.write(`${USAGE}\n\n${COMMON_HELP}\n`);
      return 0;
    }
    checkCommon(values);
    seed = intOption('seed', values.seed, 0, 0);
    psi = numberOption('psi', values.psi, 0, 1) ?? 1;
    graphics = detectGraphics(process.env, values.graphics);
  } catch (e) {
    if (!(e instanceof AlaeError)) throw e;
    process.stderr.write(`alae tui: ${e.message}\n\n${USAGE}\n`);
    return 2;
  }

  if (!values.model) {
    if (!existsSync(DEFAULT_MODEL)) {
      process.stderr.write(`${NO_MODEL_HELP}\n`);
      return 2;
    }
    values.model = DEFAULT_MODEL;
  }
  const { files, from } = await resolveImages(positionals);
  if (files.length === 0) {
    process.stderr.write(`alae tui: no images in ${from} (looked for ${IMAGE_EXTENSIONS.join(' ')}); pass images or folders: alae tui --model <model> <images...>\n`);
    return 2;
  }
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    process.stderr.write('alae tui: needs an interactive terminal (stdin and stdout must be a TTY)\n');
    return 2;
  }

  process.stderr.write(`alae tui: loading ${values.model}…\n`);
  // React's development build (NODE_ENV unset or not 'production') records every render, props
  // included (whole image rows), for profiling tools: many times slower. React reads it when it is
  // first loaded, just below; nothing else in this process looks at it.
  process.env.NODE_ENV = 'production';
  const { TuiController } = await import('../tui/app/controller.js');
  const { runTui } = await import('../tui/app/run.js');
  let engine;
  if (values['no-worker']) {
    const { openModel } = await import('./support.js');
    const { InProcessEngine } = await import('../tui/app/engine.js');
    engine = new InProcessEngine(await openModel(values, 'largest'));
  } else {
    const { WorkerEngine } = await import('../tui/app/worker-engine.js');
    engine = await WorkerEngine.start(values);
  }
  const controller = new TuiController(engine, files, { seed, psi, outDir: values.out ? path.resolve(values.out) : process.cwd() });
  await runTui({ controller, graphics });
  return 0;
}
