#!/usr/bin/env node
/**
 * Style mixing: the target face with the source's coarse (pose, face shape),
 * middle (features) or fine (colours, micro-structure) styles.
 *
 *   node examples/mix.mjs <model> <source image> <target image> <out.png> [coarse|middle|fine]
 */
import { loadModel, selectRows, tile, writePng } from '../dist/index.js';

const [modelFile, source, target, out, level = 'coarse'] = process.argv.slice(2);
if (!out) {
  console.error('usage: node examples/mix.mjs <model> <source> <target> <out.png> [coarse|middle|fine]');
  process.exit(2);
}
const alae = await loadModel(modelFile, { align: process.env.ALAE_ALIGN, faces: 'largest' });
try {
  const { latents, failures } = await alae.encode([source, target]);
  if (failures.length) throw failures[0].error;
  const mixed = alae.mixStyles(selectRows(latents, [1]), selectRows(latents, [0]), level);
  // source | target | target with the source's styles at `level`
  const images = await alae.decode(latents, { seed: 0 });
  const [m] = await alae.decode(mixed, { seed: 0 });
  await writePng(out, tile([...images, m]));
  console.log(`source | target | mixed (${level}) -> ${out}`);
} finally {
  alae.dispose();
}
