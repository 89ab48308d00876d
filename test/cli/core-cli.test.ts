import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

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

  it('unknown commands and options are usage errors', () => {
    expect(run('frobnicate').status).toBe(2);
    const r = run('info', '--bogus');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bogus/);
  });
});
