/** `alae import <file.pth> [--preset P] --out <model.safetensors> [--weights averaged|trained] [--force]`. */
import { parse, UsageError } from './args.js';
import { importCheckpoint } from '../io/import.js';
import { encodeModelFile } from '../io/model-file.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkOutputFile } from '../io/outputs.js';
import { describeConfig } from './info.js';

const USAGE =
  'usage: alae import <file.pth> --out <model.safetensors> [--preset P] [--weights averaged|trained] [--force]\n' +
  '  Reads a checkpoint written by the reference ALAE (zip or legacy .pth). The averaged\n' +
  '  networks (*_s), which the reference uses for inference, are the default; --weights trained\n' +
  '  takes the trained ones. The preset is inferred from the shapes unless given. An --out that\n' +
  '  exists stops the command before anything is read unless --force (-f).\n';

export async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { preset: { type: 'string' }, out: { type: 'string', short: 'o' }, weights: { type: 'string' }, force: { type: 'boolean', short: 'f' } });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1 || !values.out) throw new UsageError(positionals.length !== 1 ? `one checkpoint to import (got ${positionals.length})` : '--out <model.safetensors> is required');
  const which = values.weights ?? 'averaged';
  if (which !== 'averaged' && which !== 'trained') throw new UsageError(`--weights must be 'averaged' or 'trained' (got '${which}')`);
  if (!values.out.toLowerCase().endsWith('.safetensors')) throw new UsageError(`--out ${values.out}: models are written as .safetensors`);
  await checkOutputFile(values.out, { overwrite: values.force });
  const ckpt = await importCheckpoint(positionals[0], { preset: values.preset });
  const arrays = which === 'averaged' ? ckpt.averaged : ckpt.trained;
  await writeFileAtomic(values.out, encodeModelFile(ckpt.config, arrays, { source: positionals[0], weights: which }));
  process.stdout.write(`${describeConfig(ckpt.config)}\nwrote ${values.out} (${which} weights of ${positionals[0]})\n`);
  return 0;
}
