/**
 * `alae reconstruct <images|dirs...> --out <dir> --model M`: G(E(face)) for
 * every face, a PNG per face (`<name>_<face>.png`) and a side-by-side sheet
 * (`sheet.png`: aligned input | reconstruction, pairs row by row). Faces
 * stream through in batches; the sheet keeps only its first --sheet-max faces.
 */
import path from 'node:path';
import { parse } from './args.js';
import { AlaeError } from '../errors.js';
import { listImages, tile, writePng, type RawImage } from '../image/image.js';
import { COMMON_OPTIONS, checkCommon, intOption, openModel, progressRenderer, reportFailures, usage, withModel } from './support.js';
import type { Failure } from '../api/alae.js';

const USAGE = `usage: alae reconstruct <images|dirs...> --out <dir> --model <model> [--faces all|largest] [--seed N] [--sheet-max N]
  Writes <dir>/<image name>_<face>.png (the reconstruction of each face) and <dir>/sheet.png
  (aligned input and reconstruction side by side, 4 pairs a row, the first --sheet-max faces, default 64).
  --seed: the generator's noise (default 0): the same seed gives the same files.`;

const PAIRS_PER_ROW = 4;

export async function reconstructCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...COMMON_OPTIONS,
    out: { type: 'string', short: 'o' },
    faces: { type: 'string' },
    seed: { type: 'string' },
    'sheet-max': { type: 'string' },
  });
  if (values.help || positionals.length === 0 || !values.out) return usage(USAGE, Boolean(values.help));
  checkCommon(values);
  const seed = intOption('seed', values.seed, 0, 0);
  const sheetMax = intOption('sheet-max', values['sheet-max'], 64, 0);
  const faces = values.faces ?? 'all';
  if (faces !== 'all' && faces !== 'largest') throw new AlaeError(`--faces must be all or largest (got '${faces}')`);
  const files = await listImages(positionals);
  if (files.length === 0) throw new AlaeError('no images found in the given folders');
  const outDir = values.out;

  const alae = await openModel(values, faces);
  return withModel(alae, async () => {
    const progress = progressRenderer('reconstruct', values.quiet);
    // Failures are named as they happen, not when their batch completes.
    const onFailure = (f: Failure): void => {
      progress.end();
      reportFailures('reconstruct', [f]);
    };
    const sheet: RawImage[] = [];
    const used = new Set<string>();
    let failed = 0;
    let written = 0;
    for await (const b of alae.reconstructBatches(files, { onProgress: progress, onFailure, seed })) {
      failed += b.failures.length;
      for (const f of b.faces) {
        // Same-named images from different folders must not overwrite each other.
        const stem = path.basename(f.source, path.extname(f.source)).replace(/[^\w.-]+/g, '_') || 'image';
        let name = `${stem}_${f.face}.png`;
        for (let k = 2; used.has(name); k++) name = `${stem}-${k}_${f.face}.png`;
        used.add(name);
        await writePng(path.join(outDir, name), f.reconstruction);
        written++;
        if (sheet.length < 2 * sheetMax) sheet.push(f.image, f.reconstruction);
      }
    }
    progress.end();
    if (written === 0) {
      process.stderr.write('alae reconstruct: no face could be reconstructed\n');
      return 1;
    }
    if (sheet.length > 0) await writePng(path.join(outDir, 'sheet.png'), tile(sheet, { columns: 2 * Math.min(PAIRS_PER_ROW, sheet.length / 2) }));
    process.stdout.write(`reconstructed ${written} face${written === 1 ? '' : 's'} into ${outDir}${sheet.length ? ` (sheet.png: ${sheet.length / 2} of them)` : ''}\n`);
    return failed > 0 ? 1 : 0;
  });
}
