/**
 * `alae interpolate A B --steps 8 --out strip.png [--model M]`: a strip of
 * `steps` images decoded from w on the straight line from w(A) to w(B)
 * (linear in W, endpoints included), all with the same noise so only the
 * face changes along the strip.
 */
import { parse, usageErrors } from './args.js';
import { tile } from '../image/image.js';
import { imageFormatOf, writeImage } from '../image/write-image.js';
import { checkOutputFile } from '../io/outputs.js';
import { COMMON_OPTIONS, intOption, jobOptions, oneLatent, openModel, usage, withModel } from './support.js';

const USAGE = `usage: alae interpolate <A> <B> --out strip.png [--model <model>] [--steps 8] [--seed N] [--force]
  A and B: images (their largest face) or latents files from 'alae encode' (file.safetensors#row).
  --out: .png, .jpg/.jpeg or .webp; one that exists stops the command before any work unless --force.`;

export async function interpolateCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_OPTIONS, steps: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string', short: 'o' } });
  if (values.help || positionals.length !== 2 || !values.out) return usage(USAGE, Boolean(values.help), positionals.length !== 2 ? `two inputs needed, A and B (got ${positionals.length})` : '--out is required');
  const o = jobOptions(values);
  const out = values.out;
  usageErrors(() => imageFormatOf(out));
  const steps = intOption('steps', values.steps, 8, 2);
  const seed = intOption('seed', values.seed, 0, 0);
  await checkOutputFile(out, { overwrite: o.force });

  const alae = await openModel(o, positionals, 'largest');
  return withModel(alae, async () => {
    const a = await oneLatent(alae, positionals[0]);
    const b = await oneLatent(alae, positionals[1]);
    const images = await alae.decode(alae.interpolate(a.w, b.w, steps), { seed });
    await writeImage(out, tile(images));
    process.stdout.write(`wrote ${out} (${steps} steps)\n`);
    return 0;
  });
}
