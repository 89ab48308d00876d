/**
 * The jobs' inputs and outputs, in this process: image outputs in the
 * format of their extension, folder outputs that are not image names, the
 * one folder rule (flat unless --recursive, hidden files left out), the
 * bundled model as the default where it fits, and `alae init`.
 */
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { writeRandomModel } from '../random-model.js';
import { readModelFile } from '../../src/io/model-file.js';
import { readLatents } from '../../src/api/latents-file.js';
import { SAMPLES_DIR } from '../../src/api/bundled.js';
import { cliFolder } from './in-process.js';

const FFHQ = path.resolve('../shared/faces/ffhq-aligned256');
const { at, alae } = cliFolder('alae-jobs-io-');
const M = ['--model', 'micro.safetensors', '--no-align', '-q'];

beforeAll(async () => {
  await testBackend();
  await writeRandomModel(at('micro.safetensors'), 'test-micro', 5);
  await mkdir(at('photos', 'sub'), { recursive: true });
  for (const [i, f] of [[0, 'a.png'], [1, 'b.png'], [2, 'sub/c.png'], [3, '.hidden.png']] as const) await copyFile(path.join(FFHQ, `0000${i}.png`), at('photos', f));
});

describe.skipIf(!existsSync(FFHQ))('outputs', () => {
  it('an image is written in the format of its extension; other extensions are refused before any work', async () => {
    const magic = async (f: string) => (await sharp(at(f)).metadata()).format;
    for (const [out, format] of [['m.jpg', 'jpeg'], ['m.jpeg', 'jpeg'], ['m.webp', 'webp'], ['m.PNG', 'png']] as const) {
      const r = await alae('mix', '--source', 'photos/a.png', '--target', 'photos/b.png', '--levels', 'coarse', '--out', out, ...M);
      expect(r.code, r.stderr).toBe(0);
      expect(await magic(out)).toBe(format);
    }
    const strip = await alae('interpolate', 'photos/a.png', 'photos/b.png', '--steps', '3', '--out', 's.webp', ...M);
    expect(strip.code, strip.stderr).toBe(0);
    expect(await magic('s.webp')).toBe('webp');
    const gif = await alae('mix', '--source', 'photos/a.png', '--target', 'photos/b.png', '--levels', 'coarse', '--out', 'm.gif', ...M);
    expect(gif.code).toBe(2);
    expect(gif.stderr).toBe('alae mix: m.gif: images are written as .png, .jpg, .jpeg, .webp (choose one by the file extension) (alae mix --help lists the options)\n');
    expect(existsSync(at('m.gif'))).toBe(false);
  });

  it('a multi-image command given an image name for its folder is a usage error', async () => {
    const r = await alae('reconstruct', 'photos/a.png', '--out', 'recon.png', ...M);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--out recon.png names an image, but reconstruct writes a folder');
    const g = await alae('generate', '--seeds', '1', '--out', 'gen.jpg', ...M);
    expect(g.code).toBe(2);
    expect(existsSync(at('recon.png')) || existsSync(at('gen.jpg'))).toBe(false);
  });
});

describe.skipIf(!existsSync(FFHQ))('folders as inputs: one rule', () => {
  it('takes the folder’s own images, sorted, no hidden ones; --recursive takes its subfolders too', async () => {
    const flat = await alae('encode', 'photos', '--out', 'flat.json', ...M);
    expect(flat.code, flat.stderr).toBe(0);
    expect((await readLatents(at('flat.json'))).sources.map((s) => s.file)).toEqual([path.join('photos', 'a.png'), path.join('photos', 'b.png')]);
    expect(flat.stdout).toContain('2 of 2 inputs done');
    const deep = await alae('encode', 'photos', '--out', 'deep.json', ...M, '--recursive');
    expect(deep.code, deep.stderr).toBe(0);
    expect((await readLatents(at('deep.json'))).sources.map((s) => s.file)).toEqual(['a.png', 'b.png', path.join('sub', 'c.png')].map((f) => path.join('photos', f)));
  });
});

describe('the bundled model is the default where it fits', () => {
  it('generates and reconstructs digits without --model', async () => {
    const g = await alae('generate', '--seeds', '1-2', '--out', 'gen', '-q');
    expect(g.code, g.stderr).toBe(0);
    const meta = await sharp(at('gen', 'seed0001.png')).metadata();
    expect([meta.width, meta.height]).toEqual([32, 32]);
    expect(g.stdout).toContain('wrote 2 images to gen');
    const r = await alae('reconstruct', path.join(SAMPLES_DIR, 'digit3-3148.png'), '--out', 'digits', '-q');
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(at('digits'))).sort()).toEqual(['digit3-3148_0.png', 'sheet.png']);
  });

  it.skipIf(!existsSync(FFHQ))('a face without --model is a usage error that says how to get the published weights', async () => {
    const r = await alae('encode', 'photos/a.png', '--out', 'w.json');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the bundled model (MNIST digits, 1-channel 32x32) does not fit photos/a.png (256x256)');
    expect(r.stderr).toContain('README "Using the published ALAE weights"');
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });
});

describe('alae init', () => {
  it('writes a random-init model of a preset, the same for the same seed; refuses an existing file unless --force', async () => {
    const a = await alae('init', '--preset', 'test-micro', '--out', 'i1.safetensors', '--seed', '3');
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/^wrote i1\.safetensors: test-micro, 16x16x3, [\d,]+ parameters, random \(seed 3\)\n$/);
    const { config, metadata } = await readModelFile(at('i1.safetensors'));
    expect(config.name).toBe('test-micro');
    expect(metadata.source).toBe('alae init (seed 3)');
    await alae('init', '--preset', 'test-micro', '--out', 'i2.safetensors', '--seed', '3');
    await alae('init', '--preset', 'test-micro', '--out', 'i3.safetensors', '--seed', '4');
    expect((await readFile(at('i1.safetensors'))).equals(await readFile(at('i2.safetensors')))).toBe(true);
    expect((await readFile(at('i1.safetensors'))).equals(await readFile(at('i3.safetensors')))).toBe(false);
    // The jobs take it.
    const gen = await alae('generate', '--seeds', '1', '--out', 'from-init', '--model', 'i1.safetensors', '-q');
    expect(gen.code, gen.stderr).toBe(0);

    const again = await alae('init', '--preset', 'test-micro', '--out', 'i1.safetensors', '--seed', '4');
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('alae init: i1.safetensors already exists (--force overwrites)\n');
    expect((await readFile(at('i1.safetensors'))).equals(await readFile(at('i2.safetensors')))).toBe(true);
    expect((await alae('init', '--preset', 'test-micro', '--out', 'i1.safetensors', '--seed', '4', '--force')).code).toBe(0);
    expect((await readFile(at('i1.safetensors'))).equals(await readFile(at('i3.safetensors')))).toBe(true);

    expect((await alae('init', '--preset', 'nope', '--out', 'n.safetensors')).code).toBe(2);
    expect((await alae('init', '--preset', 'test-micro', '--out', 'n.bin')).code).toBe(2);
    await writeFile(at('cfg.json'), JSON.stringify({ model: { latentSize: 8 } }));
    const cfg = await alae('init', '--preset', 'test-micro', '--config', 'cfg.json', '--out', 'c.safetensors');
    expect(cfg.code, cfg.stderr).toBe(0);
    expect((await readModelFile(at('c.safetensors'))).config.model.latentSize).toBe(8);
  });
});
