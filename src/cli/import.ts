/** `alae import <file.pth> [--preset P] --out <model.safetensors> [--weights averaged|trained]`. */
import { parse } from './args.js';
import { importCheckpoint } from '../io/import.js';
import { encodeModelFile } from '../io/model-file.js';
import { writeFileAtomic } from '../util/atomic.js';
import { describeConfig } from './info.js';
import { AlaeError } from '../errors.js';

export async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { preset: { type: 'string' }, out: { type: 'string', short: 'o' }, weights: { type: 'string' } });
  if (values.help || positionals.length !== 1 || !values.out) {
    process.stdout.write(
      'usage: alae import <file.pth> --out <model.safetensors> [--preset P] [--weights averaged|trained]\n' +
        '  Reads a checkpoint written by the reference ALAE (zip or legacy .pth). The averaged\n' +
        '  networks (*_s), which the reference uses for inference, are the default; --weights trained\n' +
        '  takes the trained ones. The preset is inferred from the shapes unless given.\n',
    );
    return values.help ? 0 : 2;
  }
  const which = values.weights ?? 'averaged';
  if (which !== 'averaged' && which !== 'trained') throw new AlaeError(`--weights must be 'averaged' or 'trained' (got '${which}')`);
  const ckpt = await importCheckpoint(positionals[0], { preset: values.preset });
  const arrays = which === 'averaged' ? ckpt.averaged : ckpt.trained;
  await writeFileAtomic(values.out, encodeModelFile(ckpt.config, arrays, { source: positionals[0], weights: which }));
  process.stdout.write(`${describeConfig(ckpt.config)}\nwrote ${values.out} (${which} weights of ${positionals[0]})\n`);
  return 0;
}
