/**
 * The README's main job: `alae demo` end to end on the bundled model, in a
 * temporary folder (stdout is a pipe, so no TUI), and the pieces it is made
 * of: the demo's style levels, the held-out picks, runDemo on the library.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { tf } from '../../src/tf.js';
import { createModel, loadModel } from '../../src/api/alae.js';
import { DEFAULT_MODEL } from '../../src/api/bundled.js';
import { resolveConfig } from '../../src/config/config.js';
import { readModelFile } from '../../src/io/model-file.js';
import { MnistDataset, mnistSplit } from '../../src/data/mnist.js';
import { demoLevels, heldOutPicks, runDemo } from '../../src/demo/demo.js';
import { styleLevels } from '../../src/api/latents.js';

const MAIN = path.resolve('dist/cli/main.js');
let tmp: string;

beforeAll(async () => {
  await testBackend();
  tmp = await mkdtemp(path.join(tmpdir(), 'alae-demo-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function alae(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { cwd }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('demo levels and inputs', () => {
  it('takes the library\'s style levels, and needs all three', () => {
    for (const slots of [8, 10, 12, 14, 18]) expect(demoLevels(slots)).toEqual(styleLevels(slots));
    expect(() => demoLevels(4)).toThrow(/too small/);
  });

  it('shows held-out digits only, two of each class in order 0..9, 0..9', () => {
    const data = new MnistDataset();
    const picks = heldOutPicks(2, data);
    const test = new Set(mnistSplit('test'));
    expect(picks).toHaveLength(20);
    expect(picks.every((i) => test.has(i))).toBe(true);
    expect(picks.map((i) => data.label(i))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(new Set(picks).size).toBe(20);
  });
});

describe('the bundled model', () => {
  it('ships with the package, is the mnist-small preset, and is at most 10 MB', async () => {
    expect(existsSync(DEFAULT_MODEL)).toBe(true);
    const { config, metadata } = await readModelFile(DEFAULT_MODEL);
    const { name: _n, ...preset } = resolveConfig('mnist-small');
    const { name, ...shipped } = config;
    expect(name).toBe('mnist-small');
    expect(shipped).toEqual(preset);
    expect(metadata.source).toBe('alae train');
    const { size } = await stat(DEFAULT_MODEL);
    expect(size).toBeLessThanOrEqual(10 * 1024 * 1024);
  });
});

describe('runDemo', () => {
  it('writes every sheet with the expected layout and leaks no tensor', async () => {
    const model = await loadModel(DEFAULT_MODEL, { align: 'none' });
    const out = path.join(tmp, 'lib');
    const before = tf.memory().numTensors;
    const stages: string[] = [];
    const r = await runDemo(model, out, { scale: 2, onProgress: (p) => stages.push(p.stage) });
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    expect(stages.at(-1)).toBe('done');
    const size = async (f: string) => {
      const m = await sharp(f).metadata();
      return [m.width, m.height];
    };
    const cell = 64; // 32x32 at scale 2
    expect(await size(r.reconstruction)).toEqual([5 * 2 * cell + 4 * 8, 4 * cell + 3 * 8]);
    expect(await size(r.styleMixing)).toEqual([6 * cell + 5 * 2, 7 * cell + 6 * 2]);
    expect(await size(r.generated)).toEqual([8 * cell + 7 * 2, 4 * cell + 3 * 2]);
    expect(await size(r.generatedTruncated)).toEqual([8 * cell + 7 * 2, 4 * cell + 3 * 2]);
    expect(await size(r.interpolation)).toEqual([10 * cell + 9 * 2, 3 * cell + 2 * 2]);
    expect(r.digits).toHaveLength(20);
    // The inputs written are the package's digits, byte for byte.
    const data = new MnistDataset();
    const first = await sharp(r.digits[0]).extractChannel(0).raw().toBuffer();
    expect(Buffer.compare(first, Buffer.from(await data.get(r.heldOut[0], 32)))).toBe(0);
    // The same call gives the same pixels (noise from a fixed seed).
    const again = await loadModel(DEFAULT_MODEL, { align: 'none' });
    const r2 = await runDemo(again, path.join(tmp, 'lib2'), { scale: 2 });
    again.dispose();
    expect(Buffer.compare(await sharp(r.styleMixing).raw().toBuffer(), await sharp(r2.styleMixing).raw().toBuffer())).toBe(0);
  });

  it('refuses a model that is not 1-channel 32x32, naming it', async () => {
    const model = await createModel('test-micro');
    try {
      await expect(runDemo(model, path.join(tmp, 'bad'))).rejects.toThrow(/1-channel 32x32.*16x16, 3 channels/);
    } finally {
      model.dispose();
    }
  });
});

describe('alae demo (CLI)', () => {
  it('runs with no arguments, offline, writing ./alae-demo/ and printing where', async () => {
    const cwd = path.join(tmp, 'cli');
    await mkdir(cwd);
    const r = await alae(cwd, 'demo');
    expect(r.stderr).not.toMatch(/Error|error:/);
    expect(r.code).toBe(0);
    const files = (await readdir(path.join(cwd, 'alae-demo'))).sort();
    expect(files).toEqual(['digits', 'generated-truncated.png', 'generated.png', 'interpolation.png', 'reconstruction.png', 'style-mixing.png']);
    expect((await readdir(path.join(cwd, 'alae-demo', 'digits'))).length).toBe(20);
    for (const f of files.filter((x) => x.endsWith('.png'))) expect(r.stdout).toContain(path.join('alae-demo', f));
    expect(r.stdout).toMatch(/style mixing: rows coarse \(slots 0-3\), middle \(slots 4-5\), fine \(slots 6-7\)/);
    expect(r.stdout).not.toContain('opening the TUI');
 
    // A second run finds the first one's files: it stops before any work, naming them; --force replaces them.
    const sheet = await readFile(path.join(cwd, 'alae-demo', 'reconstruction.png'));
    const again = await alae(cwd, 'demo');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^alae demo: .*alae-demo\/reconstruction\.png, .*alae-demo\/style-mixing\.png, .*generated\.png and 22 more already exist \(--force overwrites\)\n$/);
    expect(await readFile(path.join(cwd, 'alae-demo', 'reconstruction.png'))).toEqual(sheet);
    const forced = await alae(cwd, 'demo', '--force');
    expect(forced.code, forced.stderr).toBe(0);
  });

  it('names a missing model and exits non-zero', async () => {
    const r = await alae(tmp, 'demo', '--model', 'nope.safetensors', '--out', 'x');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope\.safetensors/);
    expect(existsSync(path.join(tmp, 'x'))).toBe(false);
  });
});
