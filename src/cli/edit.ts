/**
 * `alae edit <image> --direction d.npy --amount 2 --out x.png [--model M]`:
 * the face decoded from w + amount * direction. Directions are w-space
 * vectors as the reference's principal_directions/*.npy (shape [latent] or
 * [1, latent]); the edited w goes to every style slot.
 */
import { parse, usageErrors } from './args.js';
import { imageFormatOf, writeImage } from '../image/write-image.js';
import { loadDirection } from '../api/alae.js';
import { checkOutputFile } from '../io/outputs.js';
import { COMMON_OPTIONS, intOption, jobOptions, numberOption, oneLatent, openModel, usage, withModel } from './support.js';

const USAGE = `usage: alae edit <image> --direction <d.npy> --amount <a> --out x.png [--model <model>] [--seed N] [--force]
  The image's largest face (or a latents file row, file.safetensors#row) moved along the
  direction: w + amount * direction. Negative amounts: --amount -2 or --amount=-2.
  --out: .png, .jpg/.jpeg or .webp; one that exists stops the command before any work unless --force.`;

export async function editCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_OPTIONS, direction: { type: 'string' }, amount: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string', short: 'o' } });
  if (values.help || positionals.length !== 1 || !values.direction || values.amount === undefined || !values.out) {
    return usage(USAGE, Boolean(values.help), positionals.length !== 1 ? `one input needed (got ${positionals.length})` : '--direction, --amount and --out are required');
  }
  const o = jobOptions(values);
  const out = values.out;
  usageErrors(() => imageFormatOf(out));
  const amount = numberOption('amount', values.amount)!;
  const seed = intOption('seed', values.seed, 0, 0);
  await checkOutputFile(out, { overwrite: o.force });

  const alae = await openModel(o, positionals, 'largest');
  return withModel(alae, async () => {
    const direction = await loadDirection(values.direction!, alae.latentSize);
    const { w } = await oneLatent(alae, positionals[0]);
    const [img] = await alae.decode(alae.edit(w, direction, amount), { seed });
    await writeImage(out, img);
    process.stdout.write(`wrote ${out}\n`);
    return 0;
  });
}
