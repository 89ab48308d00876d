import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { resolveConfig } from '../../src/config/config.js';
import { describeConfig } from '../../src/cli/info.js';

// The built CLI (npm test compiles before running vitest).
const CLI = path.resolve('dist/cli/main.js');
const REF = path.resolve('../shared/alae-reference');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ALAE_BACKEND: 'cpu' } });

describe('alae CLI: info, import', () => {
  it('info prints the config and parameter counts of a preset', () => {
    const r = run('info', 'ffhq');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/resolution\s+1024x1024/);
    expect(r.stdout).toMatch(/F \(mapping_f\)\s+2,101,248/); // 8 x (512*512 + 512)
    expect(r.stdout).toMatch(/total\s+[\d,]+/);
  });

  it('info on an unknown name fails naming it', () => {
    const r = run('info', 'nope');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/nope: not a preset/);
  });

  it('import writes a model that info reads, with the averaged weights by default', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'alae-cli-'));
    const out = path.join(dir, 'tiny.safetensors');
    const r = run('import', path.join(REF, 'tiny32', 'checkpoint.legacy.pth'), '--out', out);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    const info = execFileSync(process.execPath, [CLI, 'info', out], { encoding: 'utf8' });
    expect(info).toMatch(/resolution\s+32x32/);
    const bad = run('import', path.join(REF, 'tiny32', 'checkpoint.zip.pth'), '--preset', 'ffhq', '--out', path.join(dir, 'x.safetensors'));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/does not fit preset 'ffhq'/);
    expect(existsSync(path.join(dir, 'x.safetensors'))).toBe(false);
  });

  it('info on a training checkpoint says where the run stands; a decayed schedule shows its steps', async () => {
    const file = path.resolve('training/mnist-small/checkpoint.safetensors'); // the bundled model's resume point
    const r = run('info', file, 'mnist-small');
    expect(r.status, r.stderr).toBe(0);
    const { progress: p } = await readCheckpoint(file);
    expect(r.stdout).toContain(`checkpoint        kimg ${(p.imagesTotal / 1000).toFixed(3)}, epoch ${p.epoch} (image ${p.imagesIntoEpoch} of 9000), lod 3, iteration ${p.iteration}`);
    expect(r.stdout).toMatch(/name\s+mnist-small/);
    expect(r.stdout).toContain('60 epochs; batch per lod [64, 64, 32, 32]; lr [0.0015, 0.0015, 0.0015, 0.0015]\n'); // no decay
    const decayed = resolveConfig('mnist-small', { train: { learningDecaySteps: [60, 67], learningDecayRate: 0.3 } });
    expect(describeConfig(decayed)).toContain('lr [0.0015, 0.0015, 0.0015, 0.0015], times 0.3 from epochs 60, 67\n');
  });

  it('unknown commands and options are usage errors (exit 2), with the nearest known name', () => {
    const cmd = run('genrate');
    expect(cmd.status).toBe(2);
    expect(cmd.stderr).toBe("alae: unknown command 'genrate' (did you mean 'generate'?); 'alae --help' lists them\n");
    const r = run('info', '--bogus');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('alae info: unknown option --bogus (alae info --help lists the options)\n');
  });
});
