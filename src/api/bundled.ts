/**
 * What ships inside the package: the default model this project trained
 * (models/default.safetensors, MNIST digits) and sample inputs for the TUI
 * (models/samples/). Paths are resolved from this file (src/api or
 * dist/api), so they work from any working directory and through npx.
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AlaeError } from '../errors.js';

/** The package root. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The bundled model: the `mnist-small` preset trained by `alae train` (README, "The bundled model"). */
export const DEFAULT_MODEL = path.join(PACKAGE_ROOT, 'models', 'default.safetensors');
/** Sample inputs the TUI opens when given none. */
export const SAMPLES_DIR = path.join(PACKAGE_ROOT, 'models', 'samples');

/** The bundled model's path, or an AlaeError saying it is missing from this install. */
export function bundledModel(): string {
  if (!existsSync(DEFAULT_MODEL)) {
    throw new AlaeError('this install has no bundled model (the package ships it under models/; reinstall alae, or pass --model <file>)', DEFAULT_MODEL);
  }
  return DEFAULT_MODEL;
}
