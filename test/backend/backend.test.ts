import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { BACKENDS, requestedBackend, useBackend } from '../../src/backend/backend.js';

const require = createRequire(import.meta.url);

describe('backend choice', () => {
  it('cpu always loads', async () => {
    expect(await useBackend('cpu')).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('a named backend that cannot load fails listing the fixes', async () => {
    // tfjs-node cannot be installed here (its install step downloads libtensorflow)
    await expect(useBackend('tensorflow')).rejects.toThrow(/backend 'tensorflow' cannot load[\s\S]*To fix:[\s\S]*npm install @tensorflow\/tfjs-node@4\.22\.0/);
    expect(tf.getBackend()).toBe('cpu'); // still usable
  });

  it('auto takes the first backend of the table that loads', async () => {
    const got = await useBackend('auto', { training: true });
    const order = BACKENDS.filter((b) => b.training).map((b) => b.name);
    expect(order).toContain(got);
    // every backend ahead of the chosen one in the table cannot load here, except webgpu on a
    // CPU (lavapipe, as CI sets it up): it loads by name, but auto takes webgpu only where a GPU device is
    const gpuDevice = ['/dev', '/dev/dri'].some((d) => existsSync(d) && readdirSync(d).some((f) => /^(nvidia\d+|renderD\d+)$/.test(f)));
    for (const b of order.slice(0, order.indexOf(got))) {
      const loads = await useBackend(b).then(() => true, (e: Error) => (expect(e.message).toMatch(/cannot load/), false));
      if (loads) expect({ b, gpuDevice }).toEqual({ b: 'webgpu', gpuDevice: false });
    }
    await useBackend('cpu');
  });

  it('ALAE_BACKEND and --backend are validated', () => {
    expect(requestedBackend('wasm')).toBe('wasm');
    const old = process.env.ALAE_BACKEND;
    process.env.ALAE_BACKEND = 'cpu';
    expect(requestedBackend()).toBe('cpu');
    process.env.ALAE_BACKEND = 'gpu-please';
    expect(() => requestedBackend()).toThrow(/unknown backend 'gpu-please'/);
    if (old === undefined) delete process.env.ALAE_BACKEND;
    else process.env.ALAE_BACKEND = old;
  });

  it('exactly one tfjs-core: every installed backend package resolves ours', () => {
    const ours = require.resolve('@tensorflow/tfjs-core');
    for (const pkg of ['@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu']) {
      let dir: string;
      try {
        dir = path.dirname(require.resolve(`${pkg}/package.json`));
      } catch {
        continue; // optional and absent
      }
      expect(createRequire(path.join(dir, 'x.js')).resolve('@tensorflow/tfjs-core')).toBe(ours);
    }
  });
});
