#!/usr/bin/env node
/**
 * Time the whole path for one photo: decode, face detection + landmarks,
 * alignment, encode, decode, for randomly initialised models of the given
 * presets (random weights time the same as trained ones).
 *
 *   npx tsc -p tsconfig.json
 *   node examples/time-photo.mjs <photo> [preset...]        (default: celeba-hq256 ffhq)
 *   ALAE_BACKEND=cpu node examples/time-photo.mjs ...        (pick the backend; default auto)
 *   RUNS=1 ...                                               (encode+decode rounds per model, default 2)
 */
import { performance } from 'node:perf_hooks';
import { FaceDetector, alignFace, createModel, readRgb } from '../dist/index.js';

const [photo, ...presets] = process.argv.slice(2);
if (!photo) {
  console.error('usage: node examples/time-photo.mjs <photo> [preset...]');
  process.exit(2);
}
const ms = (t0) => `${(performance.now() - t0).toFixed(0)} ms`;

// A tiny model first: it activates the backend (ALAE_BACKEND, else auto).
const probe = await createModel('test-micro', { align: 'none' });
const backend = probe.backend;
probe.dispose();
let t0 = performance.now();
const detector = FaceDetector.load();
console.log(`backend ${backend}; face-api loaded in ${ms(t0)}`);
t0 = performance.now();
const img = await readRgb(photo);
console.log(`decode ${photo} (${img.width}x${img.height}): ${ms(t0)}`);
// The first call warms the backend's kernels up; time the second.
// DETECT_ON=active keeps the detector on the active backend even when it is
// 'cpu' or 'native' (by default it borrows 'wasm' there: see DetectOptions.backend).
const detectOpts = { backend: process.env.DETECT_ON === 'active' ? 'active' : 'auto' };
await detector.detect(img, detectOpts);
t0 = performance.now();
const faces = await detector.detect(img, detectOpts);
const where = ['cpu', 'native'].includes(backend) && detectOpts.backend === 'auto' ? 'wasm (borrowed)' : backend;
console.log(`detect + landmarks on ${where}: ${faces.length} faces, ${ms(t0)}`);
const largest = faces.reduce((a, b) => (b.box.width * b.box.height > a.box.width * a.box.height ? b : a));

for (const preset of presets.length ? presets : ['celeba-hq256', 'ffhq']) {
  t0 = performance.now();
  const alae = await createModel(preset, { align: 'none', batchSize: 1 });
  console.log(`\n${preset} (${alae.resolution}x${alae.resolution}): random init ${ms(t0)}`);
  t0 = performance.now();
  const crop = await alignFace(img, largest.landmarks, { size: alae.resolution, mode: 'ffhq' });
  console.log(`  align: ${ms(t0)}`);
  const runs = Number(process.env.RUNS ?? 2);
  for (const round of ['first', 'second', 'third'].slice(0, runs)) {
    t0 = performance.now();
    const { latents } = await alae.encode(crop, { throwOnError: true });
    const tEnc = ms(t0);
    t0 = performance.now();
    await alae.decode(latents, { seed: 0 });
    console.log(`  ${round} run: encode ${tEnc}, decode ${ms(t0)}`);
  }
  alae.dispose();
}
detector.dispose();
