/**
 * `alae tui` end to end: the built binary (dist/, built by `npm test`,
 * which runs tsc first) in a real terminal, tmux, driven by keys and read
 * back with capture-pane. Two images; take the coarse styles from the
 * other; save; the PNG must have the model's size, differ from both
 * reconstructions and be what the library computes for that mix. Skipped,
 * with a message, when tmux is not installed. Plus the non-interactive
 * exits (no model, no images, no terminal, bad flags).
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { useTempDir } from '../temp-dir.js';
import { writeRandomModel } from '../random-model.js';
import { activeBackend } from '../../src/backend/backend.js';
import { loadModel } from '../../src/api/index.js';
import { SAMPLES_DIR } from '../../src/api/bundled.js';
import { resolveImages } from '../../src/cli/tui.js';

const MAIN = path.resolve('dist/cli/main.js');
const FFHQ = path.resolve('../shared/faces/ffhq-aligned256');
const FACE_A = path.join(FFHQ, '00000.png');
const FACE_B = path.join(FFHQ, '00001.png');
const HAS_TMUX = spawnSync('tmux', ['-V']).status === 0;
if (!HAS_TMUX) console.warn('test/tui/e2e.test.ts: tmux is not installed, so the end-to-end TUI test is SKIPPED (install it: apt-get install -y tmux)');

const tmp = useTempDir('alae-tui-e2e-');
let model: string;
let backend: string;

beforeAll(async () => {
  expect(existsSync(MAIN)).toBe(true); // built by `npm test` (tsc) before vitest runs
  await testBackend();
  backend = activeBackend()!;
  model = await writeRandomModel(path.join(tmp.path, 'tiny32.safetensors'), 'test-tiny32', 11, { noise: true });
});

/** Environment for the binary: no CI (ink would only print the last frame), no dev React, no overrides. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['CI', 'CONTINUOUS_INTEGRATION', 'NODE_ENV', 'ALAE_BACKEND', 'ALAE_GRAPHICS']) delete env[k];
  return env;
}

function run(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, 'tui', ...args], { cwd, env: cleanEnv() }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('alae tui without a terminal session', () => {
  it('exits 2 with how to get a model when there is none, 2 without images or a terminal, 2 on a bad flag', async () => {
    const empty = path.join(tmp.path, 'empty');
    await mkdir(empty, { recursive: true });
    if (!existsSync(path.resolve('models/default.safetensors'))) {
      const r = await run([FACE_A], empty);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('no --model given, and this install has no bundled model');
      expect(r.stderr).toContain("alae import model_157.pth --out ffhq.safetensors");
      expect(r.stderr).toContain('alae train');
    }
    if (!existsSync(path.resolve('models/samples'))) {
      const r = await run(['--model', model], empty);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`no images in ${empty}`);
    }
    const noTty = await run(['--model', model, FACE_A], tmp.path);
    expect(noTty.code).toBe(2);
    expect(noTty.stderr).toContain('needs an interactive terminal');
    const bad = await run(['--model', model, '--graphics', 'ascii', FACE_A], tmp.path);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--graphics must be one of kitty, iterm, sixel, blocks');
    const help = await run(['--help'], tmp.path);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: alae tui');
    expect(help.stdout).toContain('s never overwrites a file');
    expect(help.stdout).not.toContain('--force,');
  });

  it("with no images given opens the current folder's images, else the bundled sample digits", async () => {
    const here = path.join(tmp.path, 'here');
    await mkdir(path.join(here, 'sub'), { recursive: true });
    for (const f of ['b.png', 'a.jpg', 'sub/c.png']) await writeFile(path.join(here, f), 'x');
    expect(await resolveImages([], here)).toEqual({ files: ['a.jpg', 'b.png'], from: here });
    expect((await resolveImages([], here, true)).files).toEqual(['a.jpg', 'b.png', path.join('sub', 'c.png')]);
    const empty = path.join(tmp.path, 'nothing-here');
    await mkdir(empty, { recursive: true });
    const r = await resolveImages([], empty);
    expect(r.from).toBe(SAMPLES_DIR);
    expect(r.files.length).toBeGreaterThan(0);
  });
});

describe.skipIf(!HAS_TMUX)('alae tui in tmux', () => {
  const socket = `alae-tui-test-${process.pid}`;
  const tmux = (...args: string[]) => {
    const r = spawnSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8', env: cleanEnv() });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const capture = (session = 'tui') => tmux('capture-pane', '-p', '-t', session);
  async function waitFor(what: string, test: (frame: string) => boolean, timeoutMs = 30_000, session = 'tui'): Promise<string> {
    const t0 = Date.now();
    let frame = '';
    while (Date.now() - t0 < timeoutMs) {
      frame = capture(session);
      if (test(frame)) return frame;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}; the screen:\n${frame}`);
  }
  const statusLine = (frame: string) => frame.split('\n')[27] ?? '';

  afterAll(() => {
    spawnSync('tmux', ['-L', socket, 'kill-server']);
  });

  it('opens two images, takes the coarse styles from the other one, saves a PNG of the mix', async () => {
    const out = path.join(tmp.path, 'saved');
    const exitFile = path.join(tmp.path, 'exit-code');
    const cmd = [process.execPath, MAIN, 'tui', '--model', model, '--no-align', '--backend', backend, '--out', out, FACE_A, FACE_B].map((a) => `'${a}'`).join(' ');
    tmux('new-session', '-d', '-s', 'tui', '-x', '100', '-y', '30', `${cmd}; echo $? > '${exitFile}'; sleep 60`);

    // Browse view: the first image and its reconstruction.
    let frame = await waitFor('the first reconstruction', (f) => f.includes('00000.png (as the model sees it)') && statusLine(f).trim() === 'ready');
    expect(frame).toContain('alae tui · tiny32.safetensors · 32×32 · 8 styles');
    expect(frame.split('\n')[2]).toMatch(/›\s+00000\.png\s+▀{20,} ▀{20,}/);

    // Mixing view: A = the first, B = the second; all from A, then coarse from B.
    tmux('send-keys', '-t', 'tui', 'm');
    frame = await waitFor('the mixing view', (f) => f.includes('mix: coarse A, middle A, fine A') && statusLine(f).trim() === 'ready');
    expect(frame).toContain('A: 00000.png');
    expect(frame).toContain('B: 00001.png');
    tmux('send-keys', '-t', 'tui', '1');
    frame = await waitFor('the mix', (f) => /mix: coarse B, middle A, fine A\s*$/m.test(f) && statusLine(f).trim() === 'ready');
    expect(frame).toContain('[1] coarse 0-3:  B');

    tmux('send-keys', '-t', 'tui', 's');
    frame = await waitFor('the save', (f) => statusLine(f).includes('saved'));
    const saved = (await readdir(out)).filter((f) => f.endsWith('.png'));
    expect(saved).toEqual(['mix-00000-00001-BAA-seed0.png']);
    const file = path.join(out, saved[0]);
    expect(statusLine(frame)).toContain(`✓ saved ${file}`.slice(0, 99));

    tmux('send-keys', '-t', 'tui', 'q');
    await waitFor('the exit', () => existsSync(exitFile), 10_000);
    expect((await readFile(exitFile, 'utf8')).trim()).toBe('0');

    // The PNG: the model's size, unlike either reconstruction, and the library's mix.
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([32, 32, 3]);
    const alae = await loadModel(model, { backend: backend as 'cpu', align: 'none' });
    try {
      const rec = await alae.reconstruct([FACE_A, FACE_B], { seed: 0 });
      const meanDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;
      const pixels = new Uint8Array(data);
      expect(meanDiff(pixels, rec.faces[0].reconstruction.data)).toBeGreaterThan(0.5);
      expect(meanDiff(pixels, rec.faces[1].reconstruction.data)).toBeGreaterThan(0.5);
      const wa = (await alae.encode([FACE_A])).latents;
      const wb = (await alae.encode([FACE_B])).latents;
      const [mix] = await alae.decode(alae.mixStyles(wa, wb, 'coarse'), { seed: 0 });
      expect(Math.max(...pixels.map((v, i) => Math.abs(v - mix.data[i])))).toBeLessThanOrEqual(1);
    } finally {
      alae.dispose();
    }
  });

  it('alae demo (the main command) writes its sheets, then opens the TUI on the held-out digits', async () => {
    const out = path.join(tmp.path, 'demo');
    const exitFile = path.join(tmp.path, 'demo-exit-code');
    const cmd = [process.execPath, MAIN, 'demo', '--backend', backend, '--out', out].map((a) => `'${a}'`).join(' ');
    tmux('new-session', '-d', '-s', 'demo', '-x', '100', '-y', '30', `cd '${tmp.path}'; ${cmd}; echo $? > '${exitFile}'; sleep 60`);
    const frame = await waitFor('the TUI on the digits', (f) => f.includes('digit0-') && f.split('\n')[27]?.trim() === 'ready', 60_000, 'demo');
    expect(frame).toContain('alae tui · default.safetensors · 32×32 · 8 styles');
    expect(frame).toMatch(/›\s+digit0-\d{4}\.png/);
    expect((await readdir(out)).filter((f) => f.endsWith('.png')).length).toBe(5);
    tmux('send-keys', '-t', 'demo', 'q');
    await waitFor('the exit', () => existsSync(exitFile), 10_000, 'demo');
    expect((await readFile(exitFile, 'utf8')).trim()).toBe('0');
  });
});
