/** `--preset` and `--config <file.json>` (train, init): the config they give. */
import { readFile } from 'node:fs/promises';
import { type AlaeConfig, type DeepPartial, resolveConfig } from '../config/config.js';
import { AlaeError } from '../errors.js';
import { usageErrors } from './args.js';

async function readConfigFile(file: string): Promise<DeepPartial<AlaeConfig>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new AlaeError(`cannot read config (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as DeepPartial<AlaeConfig>;
  } catch (e) {
    throw new AlaeError(`not a config: ${(e as Error).message}`, file);
  }
}

/** The config of --preset and --config (an unknown preset is bad usage; a bad file, bad input). */
export async function configFrom(preset: string | undefined, file: string | undefined): Promise<AlaeConfig | null> {
  if (!preset && !file) return null;
  if (preset) usageErrors(() => resolveConfig(preset));
  const overrides = file ? await readConfigFile(file) : {};
  try {
    return preset ? resolveConfig(preset, overrides) : resolveConfig(overrides);
  } catch (e) {
    if (e instanceof AlaeError && file && !e.file) throw new AlaeError(e.message, file);
    throw e;
  }
}
