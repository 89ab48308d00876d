/** Every example script runs on a small model and writes what it says (dist built by `npm test`). */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from './setup-backend.js';
import { useTempDir } from './temp-dir.js';
import { writeRandomModel } from './random-model.js';
import { encodeNpy } from '../src/io/npy.js';
import { readLatents } from '../src/api/latents-file.js';

const FFHQ = path.resolve('../shared/faces/ffhq-aligned256');
const PHOTO = path.join(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo', 'sample1.jpg');
const tmp = useTempDir('alae-examples-');
let model: string;

function run(script: string, args: string[], env: Record<string, string> = { ALAE_ALIGN: 'none' }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.resolve('examples', script), ...args], { env: { ...process.env, ALAE_BACKEND: 'cpu', ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
const dims = async (f: string) => {
  const m = await sharp(f).metadata();
  return [m.width, m.height];
};

beforeAll(async () => {
  expect(existsSync('dist/api/index.js')).toBe(true);
  await testBackend();
  model = await writeRandomModel(path.join(tmp.path, 'micro.safetensors'), 'test-micro', 2);
  await writeFile(path.join(tmp.path, 'd.npy'), encodeNpy([1, 16], new Float32Array(16).fill(0.25)));
});

const face = (i: number) => path.join(FFHQ, `0000${i}.png`);

describe('examples', () => {
  it('encode.mjs writes latents, skipping and naming a bad file', async () => {
    const out = path.join(tmp.path, 'w.json');
    const r = await run('encode.mjs', [model, out, face(0), face(1), path.join(tmp.path, 'missing.png')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('missing.png: cannot read file');
    expect((await readLatents(out)).latents.count).toBe(2);
  });

  it('reconstruct.mjs aligns every face of a photo (input | reconstruction rows)', async () => {
    const out = path.join(tmp.path, 'rec.png');
    const r = await run('reconstruct.mjs', [model, PHOTO, out], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('3 face(s)');
    expect(await dims(out)).toEqual([32, 48]);
  });

  it('mix.mjs, interpolate.mjs, edit.mjs, generate.mjs', async () => {
    const [mix, interp, edit, gen] = await Promise.all([
      run('mix.mjs', [model, face(0), face(1), path.join(tmp.path, 'mix.png'), 'middle']),
      run('interpolate.mjs', [model, face(0), face(1), path.join(tmp.path, 'strip.png'), '4']),
      run('edit.mjs', [model, face(2), path.join(tmp.path, 'd.npy'), '3', path.join(tmp.path, 'edit.png')]),
      run('generate.mjs', [model, path.join(tmp.path, 'gen'), '7', '8']),
    ]);
    for (const r of [mix, interp, edit, gen]) expect(r.stderr).toBe('');
    expect(await dims(path.join(tmp.path, 'mix.png'))).toEqual([48, 16]);
    expect(await dims(path.join(tmp.path, 'strip.png'))).toEqual([64, 16]);
    expect(await dims(path.join(tmp.path, 'edit.png'))).toEqual([48, 16]);
    expect((await readdir(path.join(tmp.path, 'gen'))).sort()).toEqual(['seed7.png', 'seed8.png']);
  });

  it('time-photo.mjs times one photo end to end', async () => {
    const r = await run('time-photo.mjs', [PHOTO, 'test-micro'], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/detect \+ landmarks on .*: 3 faces/);
    expect(r.stdout).toMatch(/second run: encode \d+ ms, decode \d+ ms/);
  });
});
