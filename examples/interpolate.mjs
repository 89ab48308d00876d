#!/usr/bin/env node
/**
 * Morph one face into another: decode w on the straight line between them.
 *
 *   node examples/interpolate.mjs <model> <image A> <image B> <out.png> [steps=8]
 */
import { loadModel, selectRows, tile, writePng } from '../dist/index.js';

const [modelFile, a, b, out, steps = '8'] = process.argv.slice(2);
if (!out) {
  console.error('usage: node examples/interpolate.mjs <model> <A> <B> <out.png> [steps]');
  process.exit(2);
}
const alae = await loadModel(modelFile, { align: process.env.ALAE_ALIGN, faces: 'largest' });
try {
  const { latents, failures } = await alae.encode([a, b]);
  if (failures.length) throw failures[0].error;
  const line = alae.interpolate(selectRows(latents, [0]), selectRows(latents, [1]), Number(steps));
  // One noise seed for every step: only the face changes along the strip.
  await writePng(out, tile(await alae.decode(line, { seed: 0 })));
  console.log(`${steps} steps -> ${out}`);
} finally {
  alae.dispose();
}
