/**
 * `alae reconstruct <images|dirs...> --out <dir> [--model M]`: G(E(face))
 * for every face, a PNG per face (`<name>_<face>.png`) written as soon as
 * its batch is decoded, and a side-by-side sheet (`sheet.png`: aligned
 * input | reconstruction, pairs row by row) at the end (or at Ctrl-C, of
 * the faces done). The sheet keeps only its first --sheet-max faces.
 * With --refine N each batch is then refined (api/refine.ts) and
 * `<name>_<face>_refined.png` written beside the one-pass image; the sheet
 * shows input | one pass | refined.
 */
import path from 'node:path';
import { parse, UsageError } from './args.js';
import { listImages, tile, writePng, type RawImage } from '../image/image.js';
import { isImageName } from '../image/write-image.js';
import { checkOutputFolder } from '../io/outputs.js';
import { COMMON_OPTIONS, RECURSIVE_OPTION, batchSizeFor, intOption, jobOptions, openModel, summaryLine, usage, withModel } from './support.js';
import { signalExit } from './signals.js';
import { batchRun } from './batch-run.js';
import { REFINE_HELP, REFINE_OPTIONS, describeRefine, refineChoice, refineFaces } from './refining.js';

const USAGE = `usage: alae reconstruct <images|dirs...> --out <dir> [--model <model>] [--faces all|largest] [--seed N] [--sheet-max N] [--refine N [--space w+]] [--force]
  Writes <dir>/<image name>_<face>.png (the reconstruction of each face, as soon as it is done) and
  <dir>/sheet.png (aligned input and reconstruction side by side, 4 pairs a row, the first --sheet-max
  faces, default 64). --out is a folder (an image name such as recon.png is refused); files of those
  names that exist stop the command before any work unless --force (other files there are left alone).
  --seed: the generator's noise (default 0): the same seed gives the same files.
  With --refine, <dir>/<image name>_<face>_refined.png beside each (the sheet: input, one pass, refined;
  Ctrl-C drops the refinement in progress at once).
${REFINE_HELP}`;

/** Faces a sheet row holds. */
const PAIRS_PER_ROW = 4;
const SHEET = 'sheet.png';

/** The file stem a face's name starts with (same-named images from different folders get -2, -3, ...). */
const stemOf = (file: string): string => path.basename(file, path.extname(file)).replace(/[^\w.-]+/g, '_') || 'image';
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export async function reconstructCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...COMMON_OPTIONS,
    ...RECURSIVE_OPTION,
    out: { type: 'string', short: 'o' },
    faces: { type: 'string' },
    seed: { type: 'string' },
    'sheet-max': { type: 'string' },
    ...REFINE_OPTIONS,
  });
  if (values.help || positionals.length === 0 || !values.out) return usage(USAGE, Boolean(values.help), positionals.length === 0 ? 'no images given' : '--out <dir> is required');
  const o = jobOptions(values);
  const seed = intOption('seed', values.seed, 0, 0);
  const sheetMax = intOption('sheet-max', values['sheet-max'], 64, 0);
  const faces = values.faces ?? 'all';
  if (faces !== 'all' && faces !== 'largest') throw new UsageError(`--faces must be all or largest (got '${faces}')`);
  const refining = refineChoice(values);
  const outDir = values.out;
  if (isImageName(outDir)) throw new UsageError(`--out ${outDir} names an image, but reconstruct writes a folder (an image per face and ${SHEET}): give a folder`);
  const files = await listImages(positionals, { recursive: o.recursive });
  if (files.length === 0) throw new UsageError(`no images in ${positionals.join(', ')}${o.recursive ? '' : ' (subfolders are read with --recursive)'}`);
  const ours = new RegExp(`^(?:${[...new Set(files.map(stemOf))].map(escape).join('|')})(?:-\\d+)?_\\d+(?:_refined)?\\.png$`);
  await checkOutputFolder(outDir, (name) => name === SHEET || ours.test(name), { overwrite: o.force });

  const alae = await openModel(o, files, faces);
  return withModel(alae, async () => {
    // Ctrl-C drops a refinement in progress; the batch's one-pass images are written already.
    const { progress, failures, onFailure, abort, stop } = batchRun('reconstruct', o.quiet, refining ? 'the current batch without its refinement' : 'the current batch');
    const perFace = refining ? 3 : 2;
    const sheet: RawImage[] = [];
    const used = new Set<string>();
    const batchSize = batchSizeFor(alae, o);
    // Inputs done (all their files written): each one's first face (inputs may repeat a path, so they are counted, not named).
    let inputsDone = 0;
    let written = 0;
    try {
      for await (const b of alae.reconstructBatches(files, { onProgress: progress, onFailure, seed, batchSize })) {
        const names = b.faces.map((f) => {
          let name = `${stemOf(f.source)}_${f.face}`;
          for (let k = 2; used.has(name); k++) name = `${stemOf(f.source)}-${k}_${f.face}`;
          used.add(name);
          return name;
        });
        for (const [i, f] of b.faces.entries()) {
          await writePng(path.join(outDir, `${names[i]}.png`), f.reconstruction);
          if (refining) continue;
          if (f.face === 0) inputsDone++;
          progress.faces(++written, `${f.source} face ${f.face}`);
          if (sheet.length < perFace * sheetMax) sheet.push(f.image, f.reconstruction);
        }
        if (refining && b.faces.length > 0 && !stop.signal) {
          const r = await refineFaces(alae, b.faces, refining, { seed, batchSize, signal: abort, progress });
          if (!r) break;
          for (const [i, f] of b.faces.entries()) {
            await writePng(path.join(outDir, `${names[i]}_refined.png`), r.images[i]);
            if (f.face === 0) inputsDone++;
            progress.faces(++written, `${f.source} face ${f.face}`);
            if (sheet.length < perFace * sheetMax) sheet.push(f.image, f.reconstruction, r.images[i]);
          }
        }
        if (stop.signal) break;
      }
    } finally {
      stop.release();
      progress.end();
    }
    const shown = sheet.length / perFace;
    if (sheet.length > 0) await writePng(path.join(outDir, SHEET), tile(sheet, { columns: perFace * Math.min(PAIRS_PER_ROW, shown) }));
    const what = refining ? `reconstructed and refined (${describeRefine(refining)}) ${written} face${written === 1 ? '' : 's'}` : `reconstructed ${written} face${written === 1 ? '' : 's'}`;
    const into = `${what} into ${outDir}${sheet.length ? ` (${SHEET}: ${shown} of them)` : ''}`;
    process.stdout.write(`${into}; ${summaryLine(inputsDone, files.length, failures, 'input', stop.signal !== null)}\n`);
    if (stop.signal) return signalExit(stop.signal);
    return failures.length > 0 || written === 0 ? 1 : 0;
  });
}
