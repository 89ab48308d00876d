/**
 * Refinement through the TUI's model worker (WorkerEngine + the built
 * dist/tui/app/model-worker.js, which `npm test` builds first): the refined
 * w is the library's for the same crop and seed, with a step message per
 * step; a cancel stops it between steps, and the worker serves on.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { useTempDir } from '../temp-dir.js';
import { writeRandomModel } from '../random-model.js';
import { tf } from '../../src/tf.js';
import { loadModel } from '../../src/api/alae.js';
import { refine } from '../../src/api/refine.js';
import { WorkerEngine } from '../../src/tui/app/worker-engine.js';
import type { BackendName } from '../../src/backend/backend.js';

const WORKER = path.resolve('dist/tui/app/model-worker.js');
const FACE = path.resolve('../shared/faces/ffhq-aligned256/00000.png');
const tmp = useTempDir('alae-worker-refine-');
let file: string;

beforeAll(async () => {
  await testBackend();
  file = await writeRandomModel(path.join(tmp.path, 'micro.safetensors'), 'test-micro', 5, { noise: true });
});

describe.skipIf(!existsSync(WORKER) || !existsSync(FACE))('WorkerEngine.refine', () => {
  it("gives the library's refined w with a step message per step; a cancel stops it and the worker serves on", async () => {
    const backend = tf.getBackend() as BackendName;
    const engine = await WorkerEngine.start({ file, options: { backend, align: 'none' } }, pathToFileURL(WORKER));
    try {
      const [face] = await engine.encode(FACE);
      const steps: number[] = [];
      const w = await engine.refine({ crop: face.crop, seed: 2, steps: 3 }, (step) => steps.push(step));
      expect(steps).toEqual([1, 2, 3]);
      const alae = await loadModel(file, { backend, align: 'none' });
      try {
        const lib = await refine(alae, [face.crop], { steps: 3, seed: 2 });
        w.forEach((v, i) => expect(Math.abs(v - lib.latents.data[i])).toBeLessThan(1e-5));
      } finally {
        alae.dispose();
      }

      const abort = new AbortController();
      const seen: number[] = [];
      const run = engine.refine({ crop: face.crop, seed: 2, steps: 1_000_000 }, (step) => {
        seen.push(step);
        if (step === 2) abort.abort();
      }, abort.signal);
      await expect(run).rejects.toThrow(/abort/i);
      expect(seen.length).toBeLessThan(50);
      expect((await engine.encode(FACE))[0].w).toEqual(face.w);
    } finally {
      await engine.dispose();
    }
  });
});
