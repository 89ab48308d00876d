/**
 * The README's main job (`alae demo`): the whole product on the bundled
 * MNIST model and digits that training never read. One call writes, to one
 * folder, the sheets a person looks at first:
 *
 *   reconstruction.png        held-out digit | its reconstruction, 20 pairs
 *   style-mixing.png          the reference's style-mixing figure: sources
 *                             across the top, targets down the left, each
 *                             cell the target with the source's coarse,
 *                             middle or fine styles (two rows each)
 *   generated.png             samples from 32 seeds, no truncation
 *   generated-truncated.png   the same seeds, truncated toward the average w
 *   interpolation.png         three strips, linear in W between two digits
 *   digits/                   the held-out inputs, for `alae tui`
 *
 * Levels: the library's (api/latents.ts levelRanges): for the 32x32 model,
 * coarse = the 4x4 and 8x8 blocks, middle = 16x16, fine = 32x32; for 64x64
 * and larger models the reference's split.
 *
 * Files that exist are not replaced unless `overwrite` (checkDemoFolder:
 * before anything is computed, naming them); other files in the folder are
 * left alone. The library only reports progress (onProgress); the CLI
 * renders it.
 */
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { Alae } from '../api/alae.js';
import { interpolateLatents, mixStyles, selectRows, styleLevels, type Latents, type StyleLevel } from '../api/latents.js';
import { MnistDataset, mnistSplit } from '../data/mnist.js';
import { AlaeError } from '../errors.js';
import { scaleNearest, tile, writePng, type RawImage } from '../image/image.js';
import { checkOutputFolder } from '../io/outputs.js';

export interface DemoProgress {
  stage: string;
  done: number;
  total: number;
}

export interface DemoOptions {
  /** Integer scale of every sheet (default 4: 32x32 digits become 128x128 cells). */
  scale?: number;
  /** Noise seed of every decode (default 0). */
  seed?: number;
  /** Replace files of the demo's names that exist (default false: stop before any work, naming them). */
  overwrite?: boolean;
  onProgress?: (p: DemoProgress) => void;
}

/** One demo level: a name and the style slots [from, to) it swaps. */
export interface DemoLevel {
  name: StyleLevel;
  from: number;
  to: number;
}

export interface DemoResult {
  outDir: string;
  reconstruction: string;
  styleMixing: string;
  generated: string;
  generatedTruncated: string;
  interpolation: string;
  /** The held-out inputs written as PNG (for the TUI). */
  digits: string[];
  /** Indices into the mnist package's digits of the held-out inputs shown. */
  heldOut: number[];
  levels: DemoLevel[];
  /** Truncation used for generated-truncated.png. */
  truncation: { psi: number; cutoff: number };
  seconds: number;
}

const GAP = 2;
const GRAY = 96;
const PAIRS = 20;
const MIX_SOURCES = 5;
const GEN_SEEDS = 32;
const INTERP_STEPS = 10;
/** Digit pairs of the interpolation strips. */
const INTERP_PAIRS: ReadonlyArray<readonly [number, number]> = [
  [1, 7],
  [3, 8],
  [4, 9],
];

/** The demo's three levels for a model with `slots` style slots (the library's levels; all three needed). */
export function demoLevels(slots: number): DemoLevel[] {
  const levels = styleLevels(slots);
  if (levels.length < 3) throw new AlaeError(`a model with ${slots} style slots is too small for three style levels`);
  return levels;
}

/**
 * Held-out digits to show: for each digit 0..9, the first `perDigit` test-split
 * images of it (in package order), interleaved 0,1,...,9,0,1,...
 */
export function heldOutPicks(perDigit: number, data = new MnistDataset()): number[] {
  const byDigit: number[][] = Array.from({ length: 10 }, () => []);
  for (const i of mnistSplit('test')) {
    const d = data.label(i);
    if (byDigit[d].length < perDigit) byDigit[d].push(i);
  }
  const out: number[] = [];
  for (let k = 0; k < perDigit; k++) for (let d = 0; d < 10; d++) if (byDigit[d][k] !== undefined) out.push(byDigit[d][k]);
  return out;
}

const SHEETS = ['reconstruction.png', 'style-mixing.png', 'generated.png', 'generated-truncated.png', 'interpolation.png'];

/** The held-out digits shown (heldOutPicks) and their file names under digits/. */
function demoDigits(data: MnistDataset): { picks: number[]; names: string[] } {
  const picks = heldOutPicks(2, data);
  return { picks, names: picks.map((i) => path.join('digits', `digit${data.label(i)}-${String(i).padStart(4, '0')}.png`)) };
}

/** May the demo write into `outDir`? Writable, and none of its files there unless `overwrite` (io/outputs.ts). */
export async function checkDemoFolder(outDir: string, opts: Pick<DemoOptions, 'overwrite'> = {}, data = new MnistDataset()): Promise<void> {
  await checkOutputFolder(outDir, [...SHEETS, ...demoDigits(data).names], { overwrite: opts.overwrite });
}

/** Run the demo with a loaded 1-channel 32x32 model; files go to `outDir` (created). */
export async function runDemo(alae: Alae, outDir: string, opts: DemoOptions = {}): Promise<DemoResult> {
  const t0 = performance.now();
  const data = new MnistDataset();
  await checkDemoFolder(outDir, opts, data);
  if (alae.channels !== 1 || alae.resolution !== 32) {
    throw new AlaeError(`the demo needs a 1-channel 32x32 (MNIST) model; this one is ${alae.resolution}x${alae.resolution}, ${alae.channels} channels`, alae.file);
  }
  const scale = opts.scale ?? 4;
  if (!Number.isInteger(scale) || scale < 1 || scale > 16) throw new AlaeError(`scale must be an integer in 1..16 (got ${scale})`);
  const seed = opts.seed ?? 0;
  const progress = opts.onProgress ?? (() => {});
  const total = 6;
  let done = 0;
  const step = (stage: string) => progress({ stage, done: ++done, total });
  const big = (img: RawImage) => scaleNearest(img, scale);
  const save = async (name: string, img: RawImage) => {
    const file = path.join(outDir, name);
    await writePng(file, img);
    return file;
  };
  await mkdir(outDir, { recursive: true });

  // Inputs: two held-out digits of each class, read straight from the package.
  const { picks, names } = demoDigits(data);
  const inputs: RawImage[] = [];
  for (const i of picks) inputs.push({ data: (await data.get(i, 32)).slice(), width: 32, height: 32, channels: 1 });
  const digits: string[] = [];
  for (let k = 0; k < picks.length; k++) digits.push(await save(names[k], inputs[k]));
  const enc = await alae.encode(inputs, { align: 'none', throwOnError: true });
  const w = enc.latents;
  if (w.count !== inputs.length) throw new AlaeError(`encoded ${w.count} of ${inputs.length} digits`, alae.file);
  step('encode');

  // Reconstruction sheet: (input | output) pairs, five pairs a row.
  const recs = await alae.decode(w, { seed });
  const pairs = inputs.slice(0, PAIRS).map((x, k) => tile([big(x), big(recs[k])], { gap: 0 }));
  const reconstruction = await save('reconstruction.png', tile(pairs, { columns: 5, gap: GAP * 4, background: GRAY }));
  step('reconstruct');

  // Style mixing: sources are digits 0..4, targets two per level (digits 5..9, 0).
  const levels = demoLevels(alae.styleSlots);
  const sources = selectRows(w, [0, 1, 2, 3, 4]);
  const targetRows = [5, 6, 7, 8, 9, 10];
  const cells: (RawImage | null)[] = [null, ...(await alae.decode(sources, { seed })).map(big)];
  for (let r = 0; r < targetRows.length; r++) {
    const level = levels[Math.floor(r / 2)];
    const target = selectRows(w, [targetRows[r]]);
    const mixed = mixStyles(target, sources, [level.from, level.to], alae.styleSlots);
    const [targetImg] = await alae.decode(target, { seed });
    cells.push(big(targetImg), ...(await alae.decode(mixed, { seed })).map(big));
  }
  const styleMixing = await save('style-mixing.png', tile(cells, { columns: MIX_SOURCES + 1, gap: GAP, background: GRAY }));
  step('mix');

  // Generated samples: the same seeds without and with truncation.
  const seeds = Array.from({ length: GEN_SEEDS }, (_, i) => i);
  const m = alae.config.model;
  const truncation = { psi: m.truncationPsi, cutoff: m.truncationCutoff };
  const generated = await save('generated.png', tile((await alae.generate(seeds, { truncation: false })).map(big), { columns: 8, gap: GAP, background: GRAY }));
  const generatedTruncated = await save('generated-truncated.png', tile((await alae.generate(seeds, { truncation })).map(big), { columns: 8, gap: GAP, background: GRAY }));
  step('generate');

  // Interpolation: one strip per digit pair, same noise along the strip.
  const strips: RawImage[] = [];
  for (const [a, b] of INTERP_PAIRS) {
    const line: Latents = interpolateLatents(selectRows(w, [a]), selectRows(w, [b]), INTERP_STEPS);
    strips.push(...(await alae.decode(line, { seed })).map(big));
  }
  const interpolation = await save('interpolation.png', tile(strips, { columns: INTERP_STEPS, gap: GAP, background: GRAY }));
  step('interpolate');

  step('done');
  return {
    outDir,
    reconstruction,
    styleMixing,
    generated,
    generatedTruncated,
    interpolation,
    digits,
    heldOut: picks,
    levels,
    truncation,
    seconds: (performance.now() - t0) / 1000,
  };
}
