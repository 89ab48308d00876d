/**
 * `alae generate --seeds 1-16 --out <dir> --model M [--truncation psi]`:
 * one PNG per seed (`seed0001.png`, ...). z, and the generator's noise,
 * come from the seed alone, so a seed gives the same file in any run and
 * in any batch.
 */
import path from 'node:path';
import { parse } from './args.js';
import { writePng } from '../image/image.js';
import { COMMON_OPTIONS, checkCommon, intOption, numberOption, openModel, parseSeeds, progressRenderer, usage, withModel } from './support.js';
import { AlaeError } from '../errors.js';

const USAGE = `usage: alae generate --seeds <1-16|3,5,9> --out <dir> --model <model> [--truncation psi] [--cutoff n]
  Writes <dir>/seed<NNNN>.png per seed. Truncation pulls w toward the model's average w in the
  style slots below the cutoff: psi 1 is none; default the model's (psi 0.7, cutoff 8), as the
  reference's generation.`;

export async function generateCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    ...COMMON_OPTIONS,
    seeds: { type: 'string' },
    truncation: { type: 'string' },
    cutoff: { type: 'string' },
    out: { type: 'string', short: 'o' },
  });
  if (values.help || !values.seeds || !values.out) return usage(USAGE, Boolean(values.help));
  checkCommon(values);
  const seeds = parseSeeds(values.seeds);
  const psi = numberOption('truncation', values.truncation, 0, 1);
  const cutoffOpt = values.cutoff === undefined ? undefined : intOption('cutoff', values.cutoff, 0, 0);
  if (seeds.length === 0) throw new AlaeError('no seeds');

  // Generation needs no face detector.
  const alae = await openModel(values, 'all', false);
  return withModel(alae, async () => {
    const m = alae.config.model;
    const truncation = { psi: psi ?? m.truncationPsi, cutoff: cutoffOpt ?? m.truncationCutoff };
    const progress = progressRenderer('generate', values.quiet);
    const batch = alae.batchSize;
    for (let i = 0; i < seeds.length; i += batch) {
      // Decode a batch, write it, go on: memory stays bounded for long seed lists.
      const chunk = seeds.slice(i, i + batch);
      const images = await alae.generate(chunk, { truncation: truncation.psi === 1 ? false : truncation });
      for (let k = 0; k < chunk.length; k++) await writePng(path.join(values.out!, `seed${String(chunk[k]).padStart(4, '0')}.png`), images[k]);
      progress({ stage: 'generate', done: i + chunk.length, total: seeds.length });
    }
    progress.end();
    process.stdout.write(`wrote ${seeds.length} image${seeds.length === 1 ? '' : 's'} to ${values.out} (truncation psi ${truncation.psi}, cutoff ${truncation.cutoff})\n`);
    return 0;
  });
}
