/**
 * `alae init --preset P --out m.safetensors [--seed N]`: a randomly
 * initialised model of any preset (or config), as the reference
 * initialises one: for trying the published-size presets on the jobs,
 * timing them, or starting a run with --init. Nothing is trained.
 */
import { parse, UsageError } from './args.js';
import { resolutionOf } from '../config/config.js';
import { AlaeModel } from '../model/alae.js';
import { countParams, paramSpecs } from '../model/params.js';
import { saveModel } from '../io/model-file.js';
import { checkOutputFile } from '../io/outputs.js';
import { configFrom } from './config-options.js';
import { ensureBackend } from '../backend/backend.js';
import { intOption } from './support.js';

const USAGE = `usage: alae init (--preset <name> | --config <file.json>) --out <model.safetensors> [--seed N] [--force]
  Writes a randomly initialised model (seeded: the same seed gives the same file) that every job
  takes with --model: for trying a preset's size and speed before any weights exist. Its images are
  noise. alae info lists the presets.
  --preset <name>       the preset; --config <file.json> a config (with --preset, overriding it)
  --seed <n>            seed of the weights (default 0)
  --force, -f           replace --out if it exists (default: stop before building, naming it)`;

export async function initCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    preset: { type: 'string' },
    config: { type: 'string' },
    out: { type: 'string', short: 'o' },
    seed: { type: 'string' },
    force: { type: 'boolean', short: 'f' },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' (init takes options only)`);
  if (!values.preset && !values.config) throw new UsageError('give --preset or --config');
  if (!values.out) throw new UsageError('--out <model.safetensors> is required');
  if (!values.out.toLowerCase().endsWith('.safetensors')) throw new UsageError(`--out ${values.out}: models are written as .safetensors`);
  const seed = intOption('seed', values.seed, 0, 0);
  const config = (await configFrom(values.preset, values.config))!;
  await checkOutputFile(values.out, { overwrite: values.force });

  await ensureBackend();
  const model = AlaeModel.create(config, seed);
  try {
    await saveModel(values.out, model, { source: `alae init (seed ${seed})` });
  } finally {
    model.dispose();
  }
  const r = resolutionOf(config.model);
  process.stdout.write(`wrote ${values.out}: ${config.name}, ${r}x${r}x${config.model.channels}, ${countParams(paramSpecs(config.model)).toLocaleString('en-US')} parameters, random (seed ${seed})\n`);
  return 0;
}
