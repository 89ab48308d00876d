#!/usr/bin/env node
/**
 * Encode the faces of some photos to w and save them.
 *
 *   node examples/encode.mjs <model> <latents.json|.safetensors> <image...>
 *
 * ALAE_ALIGN=none takes the images as aligned crops; ALAE_BACKEND picks the backend.
 */
import { loadModel, LatentsWriter } from '../dist/index.js';

const [modelFile, out, ...images] = process.argv.slice(2);
if (!out || images.length === 0) {
  console.error('usage: node examples/encode.mjs <model> <latents.json|.safetensors> <image...>');
  process.exit(2);
}
const alae = await loadModel(modelFile, { align: process.env.ALAE_ALIGN });
try {
  const { latents, faces, failures } = await alae.encode(images, {
    onProgress: (p) => console.error(`${p.done}/${p.total} ${p.source}`),
  });
  for (const f of failures) console.error(`skipped: ${f.error.message}`);
  const writer = await LatentsWriter.open(out, alae.latentSize, { model: modelFile });
  await writer.append(latents, faces.map((f) => ({ file: f.source, face: f.face })));
  await writer.finish();
  console.log(`${latents.count} faces -> ${out} (w of ${latents.size} values each)`);
  process.exitCode = failures.length ? 1 : 0;
} finally {
  alae.dispose();
}
