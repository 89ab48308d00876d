/** `alae import <file.pth> [--preset P] --out <model.safetensors> [--weights averaged|trained] [--force]`. */
import { parse, UsageError } from './args.js';
import { chooseWeights, openWeights, sniffWeightsFile } from '../io/open.js';
import { encodeModelFile } from '../io/model-file.js';
import { writeFileAtomic } from '../util/atomic.js';
import { checkOutputFile } from '../io/outputs.js';
import { describeConfig } from './info.js';
import { AlaeError } from '../errors.js';

const USAGE =
  'usage: alae import <file.pth> --out <model.safetensors> [--preset P] [--weights averaged|trained] [--force]\n' +
  '  Reads a checkpoint written by the reference ALAE (zip or legacy .pth; also one of alae train\'s).\n' +
  '  The averaged networks (*_s), which the reference uses for inference, are the default (a file\n' +
  '  without them gives its trained ones); --weights trained takes the trained ones. The preset is\n' +
  '  inferred from the shapes unless given. alae info <file.pth> shows what a file holds. An --out\n' +
  '  that exists stops the command before anything is read unless --force (-f).\n';

export async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { preset: { type: 'string' }, out: { type: 'string', short: 'o' }, weights: { type: 'string' }, force: { type: 'boolean', short: 'f' } });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1 || !values.out) throw new UsageError(positionals.length !== 1 ? `one checkpoint to import (got ${positionals.length})` : '--out <model.safetensors> is required');
  const which = values.weights;
  if (which !== undefined && which !== 'averaged' && which !== 'trained') throw new UsageError(`--weights must be 'averaged' or 'trained' (got '${which}')`);
  if (!values.out.toLowerCase().endsWith('.safetensors')) throw new UsageError(`--out ${values.out}: models are written as .safetensors`);
  await checkOutputFile(values.out, { overwrite: values.force });
  const file = positionals[0];
  if ((await sniffWeightsFile(file)) === 'model') throw new AlaeError('is already an alae model file: nothing to import', file);
  const weights = await openWeights(file, { preset: values.preset });
  const { arrays, copy, notes } = chooseWeights(weights, which);
  await writeFileAtomic(values.out, encodeModelFile(weights.config, arrays, { source: file, weights: copy }));
  process.stdout.write(`${describeConfig(weights.config)}\n${notes.map((n) => `note: ${n}\n`).join('')}wrote ${values.out} (${copy} weights of ${file})\n`);
  return 0;
}
