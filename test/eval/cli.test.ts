/**
 * `alae eval` in-process (run.ts's runCli): usage errors exit 2, a model of the
 * wrong format fails naming its file, and a small run prints the table and
 * writes the JSON report atomically.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { useTempDir } from '../temp-dir.js';
import { writeRandomModel } from '../random-model.js';
import { tf } from '../../src/tf.js';
import { runCli } from '../../src/cli/run.js';
import type { MnistEvalReport } from '../../src/eval/mnist.js';

const tmp = useTempDir('alae-eval-');
let digitsModel: string;
let rgbModel: string;

beforeAll(async () => {
  await testBackend();
  digitsModel = await writeRandomModel(path.join(tmp.path, 'digits.safetensors'), 'test-tiny32', 1, { config: { model: { channels: 1 } } });
  rgbModel = await writeRandomModel(path.join(tmp.path, 'rgb.safetensors'), 'test-tiny32', 1);
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Run `alae eval` as the binary does (errors become one line and an exit status), capturing what it writes. */
async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  try {
    const code = await runCli(['eval', ...argv, '--backend', tf.getBackend()]);
    return { code, stdout, stderr };
  } finally {
    vi.restoreAllMocks();
  }
}

describe('alae eval', () => {
  it('exits 2 on bad usage, naming the problem', async () => {
    const celeba = await run('--model', digitsModel, '--data', 'celeba');
    expect(celeba.code).toBe(2);
    expect(celeba.stderr).toMatch(/--data 'celeba' is not supported/);
    expect((await run('--model', digitsModel, '--held-out', 'many')).stderr).toMatch(/--held-out must be an integer/);
    expect((await run('--model', digitsModel, '--train', '3')).code).toBe(2);
    expect((await run('--model', digitsModel, '--bogus')).code).toBe(2);
    expect((await run('extra')).code).toBe(2);
    const help = await run('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: alae eval/);
  });

  it('fails on a model that is not 1-channel 32x32, naming the file', async () => {
    const r = await run('--model', rgbModel, '--held-out', '5', '--train', '10', '--generated', '0');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^alae eval: ${rgbModel.replace(/[.]/g, '\\.')}: MNIST evaluation needs a 1-channel 32x32 model.*\n$`));
  });

  it('prints the table and writes the report', async () => {
    const json = path.join(tmp.path, 'report.json');
    const before = tf.memory().numTensors;
    const r = await run('--model', digitsModel, '--held-out', '20', '--train', '60', '--generated', '6', '--seed', '2', '--quiet', '--json', json);
    expect(r.code).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`${digitsModel} (test-tiny32) on MNIST: 20 held-out digits against 60 train digits, 6 samples (seeds 2-7, psi 1)`);
    expect(r.stdout).toMatch(/reconstruction MSE \(images in \[-1, 1\]\) +\d\.\d{4}\n/);
    expect(r.stdout).toMatch(/reconstruction keeps its digit \(pixel 1-NN\) +\d+\.\d% +target >= 90\.0% +(PASS|below)\n/);
    expect(r.stdout).toMatch(/w 5-NN accuracy +\d+\.\d% +target >= 95\.0% +(PASS|below)\n/);
    const report = JSON.parse(await readFile(json, 'utf8')) as MnistEvalReport;
    expect(report).toMatchObject({ model: digitsModel, heldOut: 20, train: 60, seed: 2, generated: { count: 6 } });
    expect((await readdir(tmp.path)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
