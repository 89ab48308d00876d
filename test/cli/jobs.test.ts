/**
 * The job commands end to end: `node dist/cli/main.js <job> ...` on a small
 * model (dist is built by `npm test`, which runs tsc first). Outputs,
 * byte-identical reruns, failures named and skipped, exit status, nothing
 * half-written.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { useTempDir } from '../temp-dir.js';
import { writeRandomModel } from '../random-model.js';
import { encodeNpy } from '../../src/io/npy.js';
import { readLatents } from '../../src/api/latents-file.js';

const MAIN = path.resolve('dist/cli/main.js');
const FFHQ = path.resolve('../shared/faces/ffhq-aligned256');
const face = (i: number) => path.join(FFHQ, `0000${i}.png`);

const tmp = useTempDir('alae-cli-');
let model: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function alae(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.ALAE_BACKEND; // --backend decides
    execFile(process.execPath, [MAIN, ...args, '--backend', 'cpu'], { cwd: tmp.path, env }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const size = async (file: string) => {
  const m = await sharp(file).metadata();
  return [m.width, m.height];
};
const tmpFiles = async (dir: string) => (await readdir(dir)).filter((f) => f.endsWith('.tmp'));

beforeAll(async () => {
  expect(existsSync(MAIN)).toBe(true); // built by `npm test` (tsc) before vitest runs
  await testBackend();
  // Non-zero noise weights: the seed must matter for the test to mean anything.
  model = await writeRandomModel(path.join(tmp.path, 'micro.safetensors'), 'test-micro', 5, { noise: true });
  await writeFile(path.join(tmp.path, 'junk.jpg'), 'this is not a jpeg');
  await sharp({ create: { width: 120, height: 90, channels: 3, background: { r: 200, g: 180, b: 160 } } }).png().toFile(path.join(tmp.path, 'wall.png'));
  await writeFile(path.join(tmp.path, 'd.npy'), encodeNpy([16], new Float32Array(16).fill(0.5)));
  await writeFile(path.join(tmp.path, 'bad-d.npy'), encodeNpy([3, 16], new Float32Array(48)));
});

describe('alae encode', () => {
  it('encodes the good images, names the bad ones, exits 1, writes the rest atomically', async () => {
    const out = path.join(tmp.path, 'enc', 'w.safetensors');
    const r = await alae('encode', face(0), 'missing.png', 'junk.jpg', face(1), face(2), '--out', out, '--model', model, '--no-align');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('alae encode: missing.png: cannot read file (ENOENT)');
    expect(r.stderr).toContain('alae encode: junk.jpg: unsupported image format');
    expect(r.stderr).toMatch(/^encode: 5\/5 \(100%\)/m); // plain progress lines: stderr is not a TTY
    expect(r.stdout).toContain('encoded 3 faces into');
    expect(r.stdout).toContain('3 of 5 inputs done; failed: missing.png (cannot read file (ENOENT)), junk.jpg (unsupported image format)');
    const { latents, sources } = await readLatents(out);
    expect([latents.count, latents.size]).toEqual([3, 16]);
    expect(sources.map((s) => path.basename(s.file))).toEqual(['00000.png', '00001.png', '00002.png']);
    expect(await tmpFiles(path.dirname(out))).toEqual([]);
  });

  it('finds faces when aligning; a picture without one is named; json output', async () => {
    const out = path.join(tmp.path, 'w.json');
    const r = await alae('encode', face(3), 'wall.png', '--out', out, '--model', model);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('alae encode: wall.png: no face found');
    const doc = JSON.parse(await readFile(out, 'utf8')) as { latents: { file: string; box: number[]; w: number[] }[]; align: string };
    expect(doc.align).toBe('ffhq');
    expect(doc.latents).toHaveLength(1);
    expect(doc.latents[0].w).toHaveLength(16);
    expect(doc.latents[0].box).toHaveLength(4);
  });

  it('takes folders (their image files, sorted)', async () => {
    const dir = path.join(tmp.path, 'folder');
    await mkdir(dir, { recursive: true });
    for (const i of [2, 0]) await writeFile(path.join(dir, `f${i}.png`), await readFile(face(i)));
    await writeFile(path.join(dir, 'notes.txt'), 'not an image: skipped by extension');
    const r = await alae('encode', dir, '--out', 'folder.safetensors', '--model', model, '--no-align', '-q');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const { sources } = await readLatents(path.join(tmp.path, 'folder.safetensors'));
    expect(sources.map((s) => path.basename(s.file))).toEqual(['f0.png', 'f2.png']);
  });

  it('writes nothing when nothing could be encoded', async () => {
    const out = path.join(tmp.path, 'none.safetensors');
    const r = await alae('encode', 'junk.jpg', '--out', out, '--model', model, '--no-align');
    expect(r.code).toBe(1);
    expect(existsSync(out)).toBe(false);
    expect(await tmpFiles(tmp.path)).toEqual([]);
  });
});

describe('alae reconstruct / generate: same seed, same bytes', () => {
  it('reconstruct writes a PNG per face and a side-by-side sheet, identical on rerun', async () => {
    const runs: Buffer[][] = [];
    for (const dir of ['rec1', 'rec2']) {
      const r = await alae('reconstruct', face(0), face(1), '--out', dir, '--model', model, '--no-align', '--seed', '3');
      expect(r.code).toBe(0);
      expect((await readdir(path.join(tmp.path, dir))).sort()).toEqual(['00000_0.png', '00001_0.png', 'sheet.png']);
      runs.push(await Promise.all(['00000_0.png', '00001_0.png', 'sheet.png'].map((f) => readFile(path.join(tmp.path, dir, f)))));
    }
    runs[0].forEach((b, i) => expect(b.equals(runs[1][i])).toBe(true));
    expect(await size(path.join(tmp.path, 'rec1', 'sheet.png'))).toEqual([4 * 16, 16]); // input | reconstruction, twice
    const other = await alae('reconstruct', face(0), '--out', 'rec3', '--model', model, '--no-align', '--seed', '4');
    expect(other.code).toBe(0);
    expect((await readFile(path.join(tmp.path, 'rec3', '00000_0.png'))).equals(runs[0][0])).toBe(false);
  });

  it('generate: a seed gives the same file in every run and batch; truncation matters', async () => {
    const a = await alae('generate', '--seeds', '1-3', '--out', 'gen1', '--model', model);
    const b = await alae('generate', '--seeds', '3,1', '--out', 'gen2', '--model', model, '--batch-size', '1');
    const c = await alae('generate', '--seeds', '1', '--out', 'gen3', '--model', model, '--truncation', '1');
    for (const r of [a, b, c]) expect(r.code).toBe(0);
    expect((await readdir(path.join(tmp.path, 'gen1'))).sort()).toEqual(['seed0001.png', 'seed0002.png', 'seed0003.png']);
    const read = (d: string, s: string) => readFile(path.join(tmp.path, d, `seed000${s}.png`));
    expect((await read('gen1', '1')).equals(await read('gen2', '1'))).toBe(true);
    expect((await read('gen1', '3')).equals(await read('gen2', '3'))).toBe(true);
    expect((await read('gen1', '1')).equals(await read('gen1', '2'))).toBe(false);
    expect((await read('gen1', '1')).equals(await read('gen3', '1'))).toBe(false);
  });
});

describe('alae mix / interpolate / edit', () => {
  it('mix: a pair, a latents-file row as input, and the grid figure', async () => {
    const pair = await alae('mix', '--source', face(0), '--target', face(1), '--levels', 'coarse', '--out', 'mixed.png', '--model', model, '--no-align');
    expect(pair.code).toBe(0);
    expect(await size(path.join(tmp.path, 'mixed.png'))).toEqual([16, 16]);
    // The same target from a latents file (row 1 of the encode test's output) gives the same picture (coarse of a 16x16 model: slots 0-1).
    const fromFile = await alae('mix', '--source', face(0), '--target', 'enc/w.safetensors#1', '--levels', '0-2', '--out', 'mixed2.png', '--model', model, '--no-align');
    expect(fromFile.code).toBe(0);
    expect((await readFile(path.join(tmp.path, 'mixed.png'))).equals(await readFile(path.join(tmp.path, 'mixed2.png')))).toBe(true);

    const grid = await alae('mix', '--grid', '--sources', face(0), face(1), face(2), '--targets', face(3), 'junk.jpg', face(4), '--out', 'grid.png', '--model', model, '--no-align');
    expect(grid.code).toBe(1); // junk.jpg failed: named, the figure made without it
    expect(grid.stderr).toContain('alae mix: target: junk.jpg: unsupported image format');
    expect(await size(path.join(tmp.path, 'grid.png'))).toEqual([(3 + 1) * 16, (2 + 1) * 16]);
    const px = await sharp(path.join(tmp.path, 'grid.png')).raw().toBuffer();
    expect(px.subarray(0, 3).every((v) => v === 0)).toBe(true); // the empty corner
    const bad = await alae('mix', '--source', face(0), '--target', face(1), '--levels', '6-9', '--out', 'fine.png', '--model', model, '--no-align');
    expect(bad.code).toBe(2); // a level the model does not have: bad usage, found before any encoding
    expect(bad.stderr).toContain('select nothing of the model');
    expect(existsSync(path.join(tmp.path, 'fine.png'))).toBe(false);
  });

  it('interpolate: a strip of the steps; edit: moves along a direction; bad direction named', async () => {
    const strip = await alae('interpolate', face(0), face(1), '--steps', '5', '--out', 'strip.png', '--model', model, '--no-align');
    expect(strip.code).toBe(0);
    expect(await size(path.join(tmp.path, 'strip.png'))).toEqual([5 * 16, 16]);
    const e0 = await alae('edit', face(0), '--direction', 'd.npy', '--amount', '0', '--out', 'e0.png', '--model', model, '--no-align');
    const e3 = await alae('edit', face(0), '--direction', 'd.npy', '--amount=-3', '--out', 'e3.png', '--model', model, '--no-align');
    expect([e0.code, e3.code]).toEqual([0, 0]);
    // Amount 0 is the plain reconstruction: the strip's first image.
    const first = await sharp(path.join(tmp.path, 'strip.png')).extract({ left: 0, top: 0, width: 16, height: 16 }).raw().toBuffer();
    expect((await sharp(path.join(tmp.path, 'e0.png')).raw().toBuffer()).equals(first)).toBe(true);
    expect((await readFile(path.join(tmp.path, 'e0.png'))).equals(await readFile(path.join(tmp.path, 'e3.png')))).toBe(false);
    const bad = await alae('edit', face(0), '--direction', 'bad-d.npy', '--amount', '1', '--out', 'bad.png', '--model', model, '--no-align');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('bad-d.npy: a direction must have shape [16] or [1, 16]');
    expect(existsSync(path.join(tmp.path, 'bad.png'))).toBe(false);
  });
});

describe('Ctrl-C keeps what is done', () => {
  it('reconstruct: the faces written so far stay, the sheet of them is written, exit 130', async () => {
    const out = path.join(tmp.path, 'interrupted');
    const inputs = Array<string>(2000).fill(face(0));
    const child = spawn(process.execPath, [MAIN, 'reconstruct', ...inputs, '--out', out, '--model', model, '--no-align', '--batch-size', '1', '-q', '--backend', 'cpu'], { cwd: tmp.path });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const t0 = Date.now();
    while (!(existsSync(out) && (await readdir(out)).some((f) => f.endsWith('.png'))) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    expect(await exit).toBe(130);
    const files = (await readdir(out)).filter((f) => f.endsWith('.png'));
    expect(files).toContain('sheet.png');
    const faces = files.length - 1;
    expect(faces).toBeGreaterThan(0);
    expect(faces).toBeLessThan(2000);
    expect(await tmpFiles(out)).toEqual([]);
    for (const f of files) expect((await sharp(path.join(out, f)).metadata()).width).toBeGreaterThan(0);
    expect(stdout).toContain(`reconstructed ${faces} face${faces === 1 ? '' : 's'} into ${out}`);
    expect(stdout).toContain(`${faces} of 2000 inputs done (interrupted)`);
  }, 120_000);
});

describe('usage and bad models', () => {
  it('a model whose config does not match its weights: named, exit 1, nothing written', async () => {
    const bytes = await readFile(model);
    const text = bytes.toString('latin1');
    const lying = path.join(tmp.path, 'lying.safetensors');
    await writeFile(lying, Buffer.from(text.replace('\\"startChannels\\":8', '\\"startChannels\\":4'), 'latin1'));
    await mkdir(path.join(tmp.path, 'gen-bad'), { recursive: true });
    const r = await alae('generate', '--seeds', '1', '--out', 'gen-bad', '--model', lying);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(lying);
    expect(await readdir(path.join(tmp.path, 'gen-bad'))).toEqual([]);
  });

  it('missing arguments and bad values are usage errors: one line, exit 2', async () => {
    const r = await alae('encode', face(0), '--model', model);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('alae encode: --out <latents.safetensors|latents.json> is required (alae encode --help lists the options)\n');
    const help = await alae('mix', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--grid');
    expect(help.stdout).toContain('--force');
    const seeds = await alae('generate', '--seeds', 'a-b', '--out', 'x', '--model', model);
    expect(seeds.code).toBe(2);
    expect(seeds.stderr).toContain("bad --seeds 'a-b'");
  });
});
