/**
 * `alae mix`: style mixing.
 *   - one pair: `--source A --target B --levels L --out mixed.png`: the
 *     target's w with the source's in the slots of level L.
 *   - the figure: `--grid --sources ... --targets ... --out grid.png`, laid
 *     out as the reference's style_mixing/stylemix.py: the source faces
 *     across the top, the target faces down the left, an empty corner; row
 *     r is target r with each source's styles in row r's level. Rows come in
 *     blocks of one level: the reference's six rows are coarse x3, middle x2,
 *     fine x1; other counts keep those 3:2:1 proportions (or give --levels).
 * Inputs are images (largest face) or latents files (`f.safetensors#row`).
 */
import { parse, UsageError, usageErrors } from './args.js';
import { AlaeError } from '../errors.js';
import { listImages, tile, type RawImage } from '../image/image.js';
import { imageFormatOf, writeImage } from '../image/write-image.js';
import { checkOutputFile } from '../io/outputs.js';
import { styleLevels, concatLatents, levelRange, parseLevel, type LevelSpec, type Latents } from '../api/latents.js';
import { COMMON_OPTIONS, RECURSIVE_OPTION, expandListOptions, intOption, jobOptions, oneLatent, openModel, progressRenderer, summaryLine, usage, withModel, type JobOptions } from './support.js';
import type { Alae, Failure } from '../api/alae.js';

const USAGE = `usage: alae mix --source <A> --target <B> --levels coarse|middle|fine|<from>-<to> --out mixed.png [--model <model>] [--seed N] [--force]
       alae mix --grid --sources <A...> --targets <B...> --out grid.png [--model <model>] [--levels L,L,...] [--seed N] [--force]
  A pair: the target's w with the source's styles in the chosen slots (64x64 models and up:
  coarse 0-3, middle 4-7, fine 8-end as the reference; smaller models by resolution, e.g.
  32x32: coarse 0-3, middle 4-5, fine 6-7; <from>-<to> means slots from..to-1).
  --grid: the style-mixing figure (sources across the top, targets down the side); --levels
  gives one level per target row, or one for all rows (default: blocks of coarse, middle, fine
  in the reference's 3:2:1 proportions).
  Inputs: images (their largest face; folders allowed in --sources/--targets) or latents
  files from 'alae encode' (file.safetensors or file.safetensors#row).
  --out: .png, .jpg/.jpeg or .webp (written in that format); one that exists stops the command
  before any work unless --force.`;

/**
 * One level per row, in blocks coarse, middle, fine sized 3:2:1 (the
 * reference's six rows exactly), largest remainder rounding, each level at
 * least one row when there are enough rows. Levels the model does not have
 * (api/latents.ts levelRanges: fine and middle below 16x16) are left out.
 */
export function defaultRowLevels(rows: number, slots: number): LevelSpec[] {
  const levels = styleLevels(slots).map((l) => l.name);
  const weights = [3, 2, 1].slice(0, levels.length);
  const total = weights.reduce((a, b) => a + b, 0);
  const quota = weights.map((w) => (rows * w) / total);
  const count = quota.map(Math.floor);
  const order = quota.map((q, i) => ({ i, frac: q - Math.floor(q) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0, left = rows - count.reduce((a, b) => a + b, 0); k < left; k++) count[order[k].i]++;
  if (rows >= levels.length) {
    for (let i = 0; i < count.length; i++) {
      if (count[i] > 0) continue;
      const donor = count.indexOf(Math.max(...count));
      count[donor]--;
      count[i]++;
    }
  }
  return levels.flatMap((l, i) => Array<LevelSpec>(count[i]).fill(l));
}

export async function mixCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    expandListOptions(argv, ['sources', 'targets']),
    {
      ...COMMON_OPTIONS,
      ...RECURSIVE_OPTION,
      source: { type: 'string' },
      target: { type: 'string' },
      sources: { type: 'string', multiple: true },
      targets: { type: 'string', multiple: true },
      grid: { type: 'boolean' },
      levels: { type: 'string' },
      out: { type: 'string', short: 'o' },
      seed: { type: 'string' },
    },
  );
  const grid = Boolean(values.grid);
  const ok = grid ? values.sources?.length && values.targets?.length && values.out : values.source && values.target && values.levels && values.out;
  if (values.help || !ok) return usage(USAGE, Boolean(values.help), grid ? '--grid needs --sources, --targets and --out' : 'a pair needs --source, --target, --levels and --out (or --grid)');
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' (inputs go in --source/--target or --sources/--targets)`);
  const o = jobOptions(values);
  const out = values.out!;
  usageErrors(() => imageFormatOf(out));
  const seed = intOption('seed', values.seed, 0, 0);
  const rowLevels = values.levels?.split(',').map((t) => usageErrors(() => parseLevel(t.trim())));
  if (!grid && rowLevels!.length !== 1) throw new UsageError('--levels takes one level for a pair (lists are for --grid)');
  const inputs = grid
    ? { sources: await listImages(values.sources!, { recursive: o.recursive }), targets: await listImages(values.targets!, { recursive: o.recursive }) }
    : { sources: [values.source!], targets: [values.target!] };
  await checkOutputFile(out, { overwrite: o.force });

  const alae = await openModel(o, [...inputs.sources, ...inputs.targets], 'largest');
  return withModel(alae, async () => {
    // Levels the model lacks are bad usage, found before any image is encoded.
    for (const l of rowLevels ?? []) usageErrors(() => levelRange(l, alae.styleSlots));
    if (!grid) {
      const src = await oneLatent(alae, values.source!);
      const dst = await oneLatent(alae, values.target!);
      const styles = alae.mixStyles(dst.w, src.w, rowLevels![0]);
      const [img] = await alae.decode(styles, { seed });
      await writeImage(out, img);
      process.stdout.write(`wrote ${out}\n`);
      return 0;
    }
    return mixGrid(alae, inputs.sources, inputs.targets, rowLevels, seed, out, o);
  });
}

interface Face {
  w: Latents;
  crop: RawImage | null;
}

/** Encode every input (one progress line for all); failures are named on stderr and collected, the rest go on. */
async function encodeAll(alae: Alae, inputs: readonly string[], what: string, failures: Failure[], progress: (source: string) => void): Promise<Face[]> {
  const items: Face[] = [];
  for (const input of inputs) {
    try {
      const r = await oneLatent(alae, input);
      items.push({ w: r.w, crop: r.crop ?? null });
    } catch (e) {
      if (!(e instanceof AlaeError)) throw e;
      process.stderr.write(`alae mix: ${what}: ${e.message}\n`);
      failures.push({ source: input, error: e });
    }
    progress(input);
  }
  return items;
}

async function mixGrid(alae: Alae, sourceFiles: string[], targetFiles: string[], rowLevels: LevelSpec[] | undefined, seed: number, out: string, o: JobOptions): Promise<number> {
  const failures: Failure[] = [];
  const total = sourceFiles.length + targetFiles.length;
  const progress = progressRenderer('mix', o.quiet);
  let read = 0;
  const step = (source: string) => progress({ stage: 'encode', done: ++read, total, source });
  const sources = await encodeAll(alae, sourceFiles, 'source', failures, step);
  const targets = await encodeAll(alae, targetFiles, 'target', failures, step);
  progress.end();
  const summary = summaryLine(total - failures.length, total, failures);
  if (sources.length === 0 || targets.length === 0) {
    process.stdout.write(`${out} not written: no ${sources.length === 0 ? 'source' : 'target'} could be encoded; ${summary}\n`);
    return 1;
  }
  let levels = rowLevels ?? defaultRowLevels(targets.length, alae.styleSlots);
  if (levels.length === 1 && targets.length > 1) levels = Array(targets.length).fill(levels[0]) as LevelSpec[];
  if (levels.length !== targets.length) throw new UsageError(`--levels lists ${levels.length} levels for ${targets.length} targets`);
  const res = alae.resolution;
  const blank: RawImage = { data: new Uint8Array(res * res * alae.channels), width: res, height: res, channels: alae.channels };
  // Latents-file inputs have no picture: their cell shows the decoded w instead.
  const face = async (x: Face): Promise<RawImage> => x.crop ?? (await alae.decode(x.w, { seed }))[0];
  const cells: RawImage[] = [blank];
  for (const s of sources) cells.push(await face(s));
  const sourceW = concatLatents(sources.map((x) => x.w));
  const rows = progressRenderer('mix rows', o.quiet);
  for (let r = 0; r < targets.length; r++) {
    cells.push(await face(targets[r]));
    const styles = alae.mixStyles(targets[r].w, sourceW, levels[r]);
    cells.push(...(await alae.decode(styles, { seed })));
    rows({ stage: 'decode', done: r + 1, total: targets.length });
  }
  rows.end();
  await writeImage(out, tile(cells, { columns: sources.length + 1 }));
  process.stdout.write(`wrote ${out} (${targets.length} targets x ${sources.length} sources); ${summary}\n`);
  return failures.length ? 1 : 0;
}
