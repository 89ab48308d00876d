#!/usr/bin/env node
/**
 * Edit a face along a w-space direction (e.g. the reference's principal_directions/direction_*.npy
 * for its FFHQ model): a strip for amounts -a, 0, +a.
 *
 *   node examples/edit.mjs <model> <image> <direction.npy> <amount> <out.png>
 */
import { loadDirection, loadModel, tile, writePng } from '../dist/index.js';

const [modelFile, image, directionFile, amount, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node examples/edit.mjs <model> <image> <direction.npy> <amount> <out.png>');
  process.exit(2);
}
const alae = await loadModel(modelFile, { align: process.env.ALAE_ALIGN, faces: 'largest' });
try {
  const direction = await loadDirection(directionFile, alae.latentSize);
  const { latents, failures } = await alae.encode(image);
  if (failures.length) throw failures[0].error;
  const a = Number(amount);
  const images = [];
  for (const k of [-a, 0, a]) images.push(...(await alae.decode(alae.edit(latents, direction, k), { seed: 0 })));
  await writePng(out, tile(images));
  console.log(`amounts ${-a}, 0, ${a} -> ${out}`);
} finally {
  alae.dispose();
}
