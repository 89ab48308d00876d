#!/usr/bin/env node
/**
 * Reconstruct every face of a photo: aligned input and G(E(input)) side by side, a row per face.
 *
 *   node examples/reconstruct.mjs <model> <image> <out.png>
 */
import { loadModel, tile, writePng } from '../dist/index.js';

const [modelFile, image, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node examples/reconstruct.mjs <model> <image> <out.png>');
  process.exit(2);
}
const alae = await loadModel(modelFile, { align: process.env.ALAE_ALIGN });
try {
  const { faces, failures } = await alae.reconstruct(image, { seed: 0 });
  if (failures.length) throw failures[0].error;
  await writePng(out, tile(faces.flatMap((f) => [f.image, f.reconstruction]), { columns: 2 }));
  console.log(`${faces.length} face(s) -> ${out}`);
} finally {
  alae.dispose();
}
