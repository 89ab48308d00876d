/** A random model of a preset, written to a model file, for the tests that open one from disk (API, CLI, TUI, examples). */
import { tf } from '../src/tf.js';
import { type AlaeConfig, type DeepPartial, resolveConfig } from '../src/config/config.js';
import { AlaeModel } from '../src/model/alae.js';
import { saveModel } from '../src/io/model-file.js';

export interface RandomModelOptions {
  /** On top of the preset (e.g. { model: { channels: 1 } }). */
  config?: DeepPartial<AlaeConfig>;
  /** Noise weights of 0.3 instead of 0 (the reference's init): the noise seed then changes the images, as in a trained model. */
  noise?: boolean;
  /** The average w filled with this value instead of 0: truncation then visibly moves w. */
  dlatentAvg?: number;
}

/** Writes AlaeModel.create(preset, seed) to `file`; returns `file`. */
export async function writeRandomModel(file: string, preset: string, seed: number, opts: RandomModelOptions = {}): Promise<string> {
  const m = AlaeModel.create(resolveConfig(preset, opts.config), seed);
  try {
    if (opts.dlatentAvg !== undefined) m.dlatentAvg.assign(tf.fill(m.dlatentAvg.shape, opts.dlatentAvg));
    if (opts.noise) for (const [name, v] of m.vars) if (name.includes('noise_weight')) v.assign(tf.fill(v.shape, 0.3));
    await saveModel(file, m);
  } finally {
    m.dispose();
  }
  return file;
}
