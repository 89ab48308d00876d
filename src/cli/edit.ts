/**
 * `alae edit <image> --direction d.npy --amount 2 --out x.png --model M`:
 * the face decoded from w + amount * direction. Directions are w-space
 * vectors as the reference's principal_directions/*.npy (shape [latent] or
 * [1, latent]); the edited w goes to every style slot.
 */
import { parse } from './args.js';
import { writePng } from '../image/image.js';
import { loadDirection } from '../api/alae.js';
import { COMMON_OPTIONS, checkCommon, intOption, numberOption, oneLatent, openModel, usage, withModel } from './support.js';

const USAGE = `usage: alae edit <image> --direction <d.npy> --amount <a> --out x.png --model <model> [--seed N]
  The image's largest face (or a latents file row, file.safetensors#row) moved along the
  direction: w + amount * direction. Negative amounts: --amount=-2.`;

export async function editCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_OPTIONS, direction: { type: 'string' }, amount: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string', short: 'o' } });
  if (values.help || positionals.length !== 1 || !values.direction || values.amount === undefined || !values.out) return usage(USAGE, Boolean(values.help));
  checkCommon(values);
  const amount = numberOption('amount', values.amount)!;
  const seed = intOption('seed', values.seed, 0, 0);

  const alae = await openModel(values, 'largest');
  return withModel(alae, async () => {
    const direction = await loadDirection(values.direction!, alae.latentSize);
    const { w } = await oneLatent(alae, positionals[0]);
    const [img] = await alae.decode(alae.edit(w, direction, amount), { seed });
    await writePng(values.out!, img);
    process.stdout.write(`wrote ${values.out}\n`);
    return 0;
  });
}
