#!/usr/bin/env node
/**
 * Random faces from seeds (the same seed always gives the same face).
 *
 *   node examples/generate.mjs <model> <out dir> [seed...] (default seeds 1 2 3 4)
 */
import path from 'node:path';
import { loadModel, writePng } from '../dist/index.js';

const [modelFile, outDir, ...rest] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node examples/generate.mjs <model> <out dir> [seed...]');
  process.exit(2);
}
const seeds = rest.length ? rest.map(Number) : [1, 2, 3, 4];
// Generation needs no face detector.
const alae = await loadModel(modelFile, { align: 'none' });
try {
  const images = await alae.generate(seeds, { truncation: { psi: 0.7 } });
  for (let i = 0; i < seeds.length; i++) await writePng(path.join(outDir, `seed${seeds[i]}.png`), images[i]);
  console.log(`${seeds.length} images -> ${outDir}`);
} finally {
  alae.dispose();
}
