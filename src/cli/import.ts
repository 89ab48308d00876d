/** `alae import <file.pth> [--preset P] --out <model.safetensors> [--weights averaged|trained]`. */
import { parse } from './args.js';
import { chooseWeights, openWeights, sniffWeightsFile } from '../io/open.js';
import { encodeModelFile } from '../io/model-file.js';
import { writeFileAtomic } from '../io/atomic.js';
import { describeConfig } from './info.js';
import { AlaeError } from '../errors.js';

export async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { preset: { type: 'string' }, out: { type: 'string', short: 'o' }, weights: { type: 'string' } });
  if (values.help || positionals.length !== 1 || !values.out) {
    process.stdout.write(
      'usage: alae import <file.pth> --out <model.safetensors> [--preset P] [--weights averaged|trained]\n' +
        '  Reads a checkpoint written by the reference ALAE (zip or legacy .pth; also one of alae train\'s).\n' +
        '  The averaged networks (*_s), which the reference uses for inference, are the default (a file\n' +
        '  without them gives its trained ones); --weights trained takes the trained ones. The preset is\n' +
        '  inferred from the shapes unless given. alae info <file.pth> shows what a file holds.\n',
    );
    return values.help ? 0 : 2;
  }
  const which = values.weights;
  if (which !== undefined && which !== 'averaged' && which !== 'trained') throw new AlaeError(`--weights must be 'averaged' or 'trained' (got '${which}')`);
  const file = positionals[0];
  if ((await sniffWeightsFile(file)) === 'model') throw new AlaeError('is already an alae model file: nothing to import', file);
  const weights = await openWeights(file, { preset: values.preset });
  const { arrays, copy, notes } = chooseWeights(weights, which);
  await writeFileAtomic(values.out, encodeModelFile(weights.config, arrays, { source: file, weights: copy }));
  process.stdout.write(`${describeConfig(weights.config)}\n${notes.map((n) => `note: ${n}\n`).join('')}wrote ${values.out} (${copy} weights of ${file})\n`);
  return 0;
}
