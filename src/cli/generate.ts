/**
 * `alae generate --seeds 1-16 --out <dir> [--model M] [--truncation psi]`:
 * one PNG per seed (`seed0001.png`, ...), written batch by batch. z, and
 * the generator's noise, come from the seed alone, so a seed gives the
 * same file in any run and in any batch.
 */
import path from 'node:path';
import { parse, UsageError } from './args.js';
import { writePng } from '../image/image.js';
import { isImageName } from '../image/write-image.js';
import { checkOutputFolder } from '../io/outputs.js';
import { COMMON_OPTIONS, batchSizeFor, intOption, jobOptions, numberOption, openModel, parseSeeds, progressRenderer, summaryLine, usage, withModel } from './support.js';
import { signalExit, stopNotice, stopOnSignal } from './signals.js';

const USAGE = `usage: alae generate --seeds <1-16|3,5,9> --out <dir> [--model <model>] [--truncation psi] [--cutoff n] [--force]
  Writes <dir>/seed<NNNN>.png per seed, batch by batch. Truncation pulls w toward the model's average
  w in the style slots below the cutoff: psi 1 is none; default the model's (psi 0.7, cutoff 8), as the
  reference's generation. --out is a folder; seed files that exist there stop the command before any
  work unless --force. Without --model: the bundled model.`;

const seedFile = (s: number): string => `seed${String(s).padStart(4, '0')}.png`;

export async function generateCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...COMMON_OPTIONS,
    seeds: { type: 'string' },
    truncation: { type: 'string' },
    cutoff: { type: 'string' },
    out: { type: 'string', short: 'o' },
  });
  if (values.help || !values.seeds || !values.out) return usage(USAGE, Boolean(values.help), '--seeds and --out are required');
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' (generate takes options only)`);
  const o = jobOptions(values);
  const seeds = parseSeeds(values.seeds);
  const psi = numberOption('truncation', values.truncation, 0, 1);
  const cutoffOpt = values.cutoff === undefined ? undefined : intOption('cutoff', values.cutoff, 0, 0);
  if (seeds.length === 0) throw new UsageError('no seeds');
  const outDir = values.out;
  if (isImageName(outDir)) throw new UsageError(`--out ${outDir} names an image, but generate writes a folder (seed<NNNN>.png per seed): give a folder`);
  await checkOutputFolder(outDir, [...new Set(seeds)].map(seedFile), { overwrite: o.force });

  // Generation needs no face detector.
  const alae = await openModel(o, [], 'all', false);
  return withModel(alae, async () => {
    const m = alae.config.model;
    const truncation = { psi: psi ?? m.truncationPsi, cutoff: cutoffOpt ?? m.truncationCutoff };
    const progress = progressRenderer('generate', o.quiet);
    const batch = batchSizeFor(alae, o);
    const stop = stopOnSignal(stopNotice('generate'));
    let done = 0;
    try {
      for (let i = 0; i < seeds.length && !stop.signal; i += batch) {
        // Decode a batch, write it, go on: memory stays bounded for long seed lists.
        const chunk = seeds.slice(i, i + batch);
        const images = await alae.generate(chunk, { truncation: truncation.psi === 1 ? false : truncation, batchSize: batch });
        for (let k = 0; k < chunk.length; k++) await writePng(path.join(outDir, seedFile(chunk[k])), images[k]);
        done += chunk.length;
        progress({ stage: 'generate', done, total: seeds.length });
      }
    } finally {
      stop.release();
      progress.end();
    }
    process.stdout.write(`wrote ${done} image${done === 1 ? '' : 's'} to ${outDir} (truncation psi ${truncation.psi}, cutoff ${truncation.cutoff}); ${summaryLine(done, seeds.length, [], 'seed', stop.signal !== null)}\n`);
    return stop.signal ? signalExit(stop.signal) : 0;
  });
}
