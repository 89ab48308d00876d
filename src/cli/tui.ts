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
import { parse, UsageError, usageErrors } from './args.js';
import { COMMON_OPTIONS, commonHelp, GET_A_MODEL, RECURSIVE_OPTION, intOption, jobOptions, loadOptions, numberOption } from './support.js';
import { listImages, IMAGE_EXTENSIONS } from '../image/image.js';
import { checkOutputFolder } from '../io/outputs.js';
import { detectGraphics, GRAPHICS_MODES } from '../tui/image/detect.js';
import type { ModelSource } from '../tui/app/engine.js';

const USAGE = `usage: alae tui [--model <model>] [images or folders...] [options]
  Explore a model in the terminal: pick a photo and see its reconstruction; mix two faces,
  taking each level of styles (coarse, middle, fine) from A or B; change the truncation and
  the noise seed; save what you see as PNG. [ and ] step through the faces of a group photo.
  Press ? in the TUI for the keys.
  --graphics <mode>     how images are drawn: ${GRAPHICS_MODES.join(', ')} (default: detected from the
                        terminal: kitty/Ghostty -> kitty, iTerm2/WezTerm -> iterm, foot/mlterm -> sixel,
                        else coloured half-blocks; or ALAE_GRAPHICS)
  --seed <n>            noise seed to start with (default 0; r re-rolls it)
  --psi <x>             truncation to start with, 0..1 (default 1: none; + and - change it)
  --out <dir>           where s saves PNGs (default: the current folder). s never overwrites a file: a
                        name that is taken gets -2, -3, ... (so tui takes no --force)
  --recursive, -r       folders given: their subfolders' images too
  --no-worker           run the model in the UI thread (the UI stalls during each forward pass)
  Mixing levels: from 64x64 up the reference's split, coarse = slots 0-3 (4x4-8x8), middle =
  4-7 (16x16-32x32), fine = 8 to the end; smaller models by resolution (32x32: coarse 4x4-8x8,
  middle 16x16, fine 32x32). The model runs in a worker thread: the UI stays live while it works
  (Esc cancels; results are cached per image and per mix).
  With no --model: models/default.safetensors of this install. With no images: the images in the
  current folder, else the bundled sample digits. Aligned crops: pass --no-align.`;

/** The images to show: the arguments (folders expanded), else the current folder's, else the bundled samples. */
export async function resolveImages(args: readonly string[], cwd = process.cwd(), recursive = false): Promise<{ files: string[]; from: string }> {
  if (args.length) return { files: await listImages(args, { recursive }), from: args.join(', ') };
  const here = (await listImages([cwd], { recursive })).map((f) => path.relative(cwd, f) || f);
  if (here.length) return { files: here, from: cwd };
  if (existsSync(SAMPLES_DIR)) return { files: await listImages([SAMPLES_DIR]), from: SAMPLES_DIR };
  return { files: [], from: cwd };
}

export async function tuiCommand(argv: string[]): Promise<number> {
  const { force: _noForce, ...options } = COMMON_OPTIONS;
  const { values, positionals } = parse(argv, {
    ...options,
    ...RECURSIVE_OPTION,
    graphics: { type: 'string' },
    seed: { type: 'string' },
    psi: { type: 'string' },
    out: { type: 'string', short: 'o' },
    'no-worker': { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n\n${commonHelp(false)}\n`);
    return 0;
  }
  const o = jobOptions(values);
  const seed = intOption('seed', values.seed, 0, 0);
  const psi = numberOption('psi', values.psi, 0, 1) ?? 1;
  const graphics = usageErrors(() => detectGraphics(process.env, values.graphics));
  const outDir = values.out ? path.resolve(values.out) : process.cwd();
  // Saves pick free names, so nothing there can clash; the folder must only be writable.
  await checkOutputFolder(outDir, []);

  const model = o.model ?? (existsSync(DEFAULT_MODEL) ? DEFAULT_MODEL : null);
  if (!model) throw new UsageError(`no --model given, and this install has no bundled model (${path.relative(process.cwd(), DEFAULT_MODEL) || DEFAULT_MODEL}); ${GET_A_MODEL}`);
  const { files, from } = await resolveImages(positionals, process.cwd(), o.recursive);
  if (files.length === 0) throw new UsageError(`no images in ${from} (looked for ${IMAGE_EXTENSIONS.join(' ')}); pass images or folders: alae tui --model <model> <images...>`);
  if (!process.stdin.isTTY || !process.stdout.isTTY) throw new UsageError('needs an interactive terminal (stdin and stdout must be a TTY)');

  process.stderr.write(`alae tui: loading ${model}…\n`);
  // React's development build (NODE_ENV unset or not 'production') records every render, props
  // included (whole image rows), for profiling tools: many times slower. React reads it when it is
  // first loaded, just below; nothing else in this process looks at it.
  process.env.NODE_ENV = 'production';
  const { TuiController } = await import('../tui/app/controller.js');
  const { runTui } = await import('../tui/app/run.js');
  const source: ModelSource = { file: model, options: loadOptions(o) };
  let engine;
  if (values['no-worker']) {
    const [{ loadModel }, { InProcessEngine }] = await Promise.all([import('../api/alae.js'), import('../tui/app/engine.js')]);
    engine = new InProcessEngine(await loadModel(source.file, source.options));
  } else {
    const { WorkerEngine } = await import('../tui/app/worker-engine.js');
    engine = await WorkerEngine.start(source);
  }
  const controller = new TuiController(engine, files, { seed, psi, outDir });
  await runTui({ controller, graphics });
  return 0;
}
