/**
 * Refinement from the command line (cli/refining.ts): `reconstruct --refine`
 * writes the refined image beside the one-pass one, `encode --refine` the
 * refined w with how they were made, `eval --refine` a refined section and
 * `eval --data <folder>` the face measures; bad refine options are usage
 * errors before any work; Ctrl-C drops the refinement in progress and
 * leaves no file. A random micro model and few steps: only the wiring is
 * tested here (refinement itself: test/api/refine.test.ts).
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { writeRandomModel } from '../random-model.js';
import { tf } from '../../src/tf.js';
import { readLatents } from '../../src/api/latents-file.js';
import type { MnistEvalReport } from '../../src/eval/mnist.js';
import type { FaceEvalReport } from '../../src/eval/faces.js';
import { cliFolder } from './in-process.js';

const MAIN = path.resolve('dist/cli/main.js');
const FFHQ = path.resolve('../shared/faces/ffhq-aligned256');
const cli = cliFolder('alae-refine-cli-');
const { at, alae } = cli;
const M = ['--model', 'micro.safetensors', '--no-align', '-q'];

beforeAll(async () => {
  await testBackend();
  // Non-zero noise weights: the seed must matter.
  await writeRandomModel(at('micro.safetensors'), 'test-micro', 5, { noise: true });
  await writeRandomModel(at('digits.safetensors'), 'test-tiny32', 1, { config: { model: { channels: 1 } } });
  await mkdir(at('faces'));
  for (const i of [0, 1]) await copyFile(path.join(FFHQ, `0000${i}.png`), at('faces', `f${i}.png`));
});

const pixels = async (file: string) => sharp(file).raw().toBuffer();

describe.skipIf(!existsSync(FFHQ))('--refine', () => {
  it('reconstruct: the refined image beside the one-pass one, three columns on the sheet; 0 steps is the one pass', async () => {
    const before = tf.memory().numTensors;
    const r = await alae('reconstruct', 'faces', '--out', 'rec', '--refine', '2', '--seed', '3', ...M);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('reconstructed and refined (2 steps in w from E(x), lr 0.2) 2 faces into rec (sheet.png: 2 of them); 2 of 2 inputs done');
    expect((await readdir(at('rec'))).sort()).toEqual(['f0_0.png', 'f0_0_refined.png', 'f1_0.png', 'f1_0_refined.png', 'sheet.png']);
    expect((await pixels(at('rec', 'f0_0.png'))).equals(await pixels(at('rec', 'f0_0_refined.png')))).toBe(false);
    const sheet = await sharp(at('rec', 'sheet.png')).metadata();
    expect([sheet.width, sheet.height]).toEqual([6 * 16, 16]);

    const zero = await alae('reconstruct', 'faces/f0.png', '--out', 'rec0', '--refine', '0', '--space', 'w+', '--seed', '3', ...M);
    expect(zero.code).toBe(0);
    expect((await pixels(at('rec0', 'f0_0_refined.png'))).equals(await pixels(at('rec', 'f0_0.png')))).toBe(true);
    // A rerun over its own outputs is refused without --force, then allowed with it.
    expect((await alae('reconstruct', 'faces', '--out', 'rec', '--refine', '1', ...M)).code).toBe(1);
    expect((await alae('reconstruct', 'faces', '--out', 'rec', '--refine', '1', '--force', ...M)).code).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('encode: the refined w, and how they were refined in the file; 0 steps is the one-pass w', async () => {
    const plain = await alae('encode', 'faces', '--out', 'w.json', ...M);
    const zero = await alae('encode', 'faces', '--out', 'w0.safetensors', '--refine', '0', ...M);
    const two = await alae('encode', 'faces', '--out', 'w2.safetensors', '--refine', '2', '--refine-lr', '0.1', '--seed', '1', ...M);
    for (const r of [plain, zero, two]) expect(r.code).toBe(0);
    expect(two.stdout).toContain('encoded and refined (2 steps in w from E(x), lr 0.1) 2 faces into w2.safetensors');
    const [p, z, t] = await Promise.all(['w.json', 'w0.safetensors', 'w2.safetensors'].map((f) => readLatents(at(f))));
    expect(p.info.refine).toBeUndefined();
    z.latents.data.forEach((v, i) => expect(Math.abs(v - p.latents.data[i])).toBeLessThan(1e-6));
    expect(JSON.parse(t.info.refine!)).toEqual({ steps: 2, space: 'w', from: 'encoder', lr: 0.1, seed: 1 });
    expect(Array.from(t.latents.data)).not.toEqual(Array.from(z.latents.data));
    expect(t.sources.map((s) => path.basename(s.file))).toEqual(['f0.png', 'f1.png']);
  });

  it('bad refine options are usage errors before any work', async () => {
    const cases: [string[], RegExp][] = [
      [['reconstruct', 'faces', '--out', 'u1', '--space', 'w+'], /--space needs --refine <steps>/],
      [['reconstruct', 'faces', '--out', 'u2', '--refine', '-1'], /--refine/],
      [['reconstruct', 'faces', '--out', 'u3', '--refine', '2', '--space', 'z'], /space must be 'w' or 'w\+'/],
      [['reconstruct', 'faces', '--out', 'u4', '--refine', '2', '--refine-from', 'zero'], /'encoder' or 'mean'/],
      [['reconstruct', 'faces', '--out', 'u5', '--refine', '2', '--refine-lr', '0'], /lr/],
      [['encode', 'faces', '--out', 'u6.json', '--refine', '2', '--space', 'w+'], /one w per face/],
      [['encode', 'faces', '--out', 'u7.json', '--seed', '2'], /--seed needs --refine/],
    ];
    for (const [args, message] of cases) {
      const r = await alae(...args, ...M);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect((await readdir(cli.path)).filter((f) => f.startsWith('u'))).toEqual([]);
  });

  it('Ctrl-C during a refinement: stops at once, exit 130, nothing written', async () => {
    const out = at('stopped.json');
    const child = spawn(process.execPath, [MAIN, 'encode', at('faces', 'f0.png'), '--out', out, '--model', at('micro.safetensors'), '--no-align', '--refine', '10000000', '--backend', 'cpu'], { cwd: cli.path });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const t0 = Date.now();
    // The first progress line of the steps (plain lines: a heartbeat every 5 s).
    while (!stderr.includes('refining 1 face: step') && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 50));
    expect(stderr).toContain('refining 1 face: step');
    child.kill('SIGINT');
    expect(await exit).toBe(130);
    expect(stderr).toContain('interrupted: finishing the file without the batch being refined');
    expect(stdout).toContain(`nothing written to ${out}; 0 of 1 input done (interrupted)`);
    expect((await readdir(cli.path)).filter((f) => f.startsWith('stopped') || f.endsWith('.tmp'))).toEqual([]);
  }, 90_000);
});

describe('eval --refine and --data <folder>', () => {
  it('mnist: a refined section in the table and the JSON', async () => {
    const r = await alae('eval', '--model', 'digits.safetensors', '--held-out', '6', '--train', '20', '--generated', '0', '--refine', '2', '--refine-from', 'mean', '--json', 'digits.json', '-q');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/refined \(2 steps in w from the average w, lr 0\.2\): MSE +\d\.\d{4} +[+-]\d+\.\d% vs one pass\n/);
    expect(r.stdout).toMatch(/refined: keeps its digit \(pixel 1-NN\) +\d+\.\d%/);
    const report = JSON.parse(await readFile(at('digits.json'), 'utf8')) as MnistEvalReport;
    expect(report.refined).toMatchObject({ steps: 2, space: 'w', from: 'mean', lr: 0.2 });
    expect(report.refined!.secondsPerImage).toBeGreaterThan(0);
  });

  it.skipIf(!existsSync(FFHQ))('faces: MSE and identity, one pass and refined; usage errors', async () => {
    const r = await alae('eval', '--data', 'faces', '--model', 'micro.safetensors', '--no-align', '--refine', '1', '--json', 'faces.json', '-q');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('micro.safetensors (test-micro) on 2 faces');
    expect(r.stdout).toMatch(/one pass: identity \(descriptor cosine\) +-?\d\.\d{3}\n/);
    expect(r.stdout).toMatch(/refined \(1 step in w from E\(x\), lr 0\.2\): MSE/);
    const report = JSON.parse(await readFile(at('faces.json'), 'utf8')) as FaceEvalReport;
    expect(report.faces).toBe(2);
    expect(report.refined).toMatchObject({ steps: 1 });

    const noModel = await alae('eval', '--data', 'faces');
    expect(noModel.code).toBe(2);
    expect(noModel.stderr).toMatch(/--data faces needs a face model/);
    const mixed = await alae('eval', '--data', 'faces', '--model', 'micro.safetensors', '--held-out', '3');
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/--held-out is for --data mnist/);
    const align = await alae('eval', '--model', 'digits.safetensors', '--no-align');
    expect(align.stderr).toMatch(/--no-align is for --data <folder of faces>/);
  });
});
