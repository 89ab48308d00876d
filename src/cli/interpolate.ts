/**
 * `alae interpolate A B --steps 8 --out strip.png --model M`: a strip of
 * `steps` images decoded from w on the straight line from w(A) to w(B)
 * (linear in W, endpoints included), all with the same noise so only the
 * face changes along the strip.
 */
import { parse } from './args.js';
import { tile, writePng } from '../image/image.js';
import { COMMON_OPTIONS, checkCommon, intOption, oneLatent, openModel, usage, withModel } from './support.js';

const USAGE = `usage: alae interpolate <A> <B> --out strip.png --model <model> [--steps 8] [--seed N]
  A and B: images (their largest face) or latents files from 'alae encode' (file.safetensors#row).`;

export async function interpolateCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_OPTIONS, steps: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string', short: 'o' } });
  if (values.help || positionals.length !== 2 || !values.out) return usage(USAGE, Boolean(values.help));
  checkCommon(values);
  const steps = intOption('steps', values.steps, 8, 2);
  const seed = intOption('seed', values.seed, 0, 0);

  const alae = await openModel(values, 'largest');
  return withModel(alae, async () => {
    const a = await oneLatent(alae, positionals[0]);
    const b = await oneLatent(alae, positionals[1]);
    const images = await alae.decode(alae.interpolate(a.w, b.w, steps), { seed });
    await writePng(values.out!, tile(images));
    process.stdout.write(`wrote ${values.out} (${steps} steps)\n`);
    return 0;
  });
}
