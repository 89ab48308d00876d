/**
 * Every command against the faults a user meets: an output that cannot be
 * written, an output that exists, a bad input among good ones, an unknown
 * option. Each case asserts the exit status (1 failed, 2 bad usage), that
 * stderr is exactly the expected number of lines (one per failure), each
 * `alae <command>: ...` and none a stack trace, and that every file present
 * before the command is byte-identical after it.
 *
 * Commands run in this process (run.ts's runCli, as the binary runs them)
 * on a test-micro model and small inputs, so the whole matrix takes
 * seconds. "Cannot be written": the tests may run as root, which ignores
 * permission bits, so the output path goes through a regular file
 * (`blocker/out.png` with `blocker` a file): no user can create it.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { writeRandomModel } from '../random-model.js';
import { encodeNpy } from '../../src/io/npy.js';
import { cliFolder, type CliResult } from './in-process.js';

const FFHQ = path.resolve('../shared/faces/ffhq-aligned256');
const CELEBA = path.resolve('../shared/faces/celeba-aligned128');
const REF = path.resolve('../shared/alae-reference/tiny32/checkpoint.legacy.pth');

const cli = cliFolder('alae-faults-');
const { at, alae } = cli;

/** Every file under the test folder, by relative path: its sha256. */
async function snapshot(dir = cli.path, rel = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) for (const [k, v] of await snapshot(dir, r)) out.set(k, v);
    else out.set(r, createHash('sha256').update(await readFile(path.join(dir, r))).digest('hex'));
  }
  return out;
}

type Result = CliResult;

interface Case {
  /** What is tried. */
  fault: 'unwritable output' | 'existing output' | 'bad input in a batch' | 'unknown option';
  args: string[];
  code: number;
  /** Lines on stderr (default 1). */
  lines?: number;
  /** Text the (first) stderr line holds. */
  says: string | RegExp;
  /** More checks on the result. */
  then?: (r: Result) => Promise<void> | void;
}

const M = ['--model', 'micro.safetensors', '--no-align'];
const face = (i: number) => `faces/0000${i}.png`;

/** A batch command (encode, reconstruct) on face 0, junk.jpg, face 1: junk.jpg named, the faces done, 2 of 3 inputs in the summary after `summary`. */
const junkAmongFaces = (cmd: string, out: string, summary: string, then?: () => Promise<void>): Case => ({
  fault: 'bad input in a batch',
  args: [cmd, face(0), 'junk.jpg', face(1), '--out', out, ...M, '-q'],
  code: 1,
  says: 'junk.jpg: unsupported image format',
  then: async (r) => {
    expect(r.stdout).toContain(`${summary}2 of 3 inputs done; failed: junk.jpg (unsupported image format)`);
    await then?.();
  },
});

/** Per command, the four faults (where the command has such a thing: info and parity write nothing, tui is interactive). */
const CASES: Record<string, Case[]> = {
  demo: [
    { fault: 'unwritable output', args: ['demo', '--out', 'blocker/demo', '--no-tui'], code: 1, says: 'blocker/demo: cannot be written: ' },
    { fault: 'existing output', args: ['demo', '--out', 'earlier-demo', '--no-tui'], code: 1, says: /earlier-demo\/reconstruction\.png already exists \(--force overwrites\)/ },
    { fault: 'bad input in a batch', args: ['demo', '--out', 'demo-bad', '--model', 'junk.safetensors', '--no-tui'], code: 1, says: 'junk.safetensors: ' },
    { fault: 'unknown option', args: ['demo', '--no-tiu'], code: 2, says: "unknown option --no-tiu (did you mean --no-tui?)" },
  ],
  info: [
    { fault: 'bad input in a batch', args: ['info', 'test-micro', 'missing.safetensors'], code: 1, says: 'missing.safetensors: not a preset', then: (r) => expect(r.stdout).toMatch(/name\s+test-micro/) },
    { fault: 'unknown option', args: ['info', '--verbose'], code: 2, says: 'unknown option --verbose' },
  ],
  import: [
    { fault: 'unwritable output', args: ['import', REF, '--out', 'blocker/m.safetensors'], code: 1, says: 'is a file, not a folder' },
    { fault: 'existing output', args: ['import', REF, '--out', 'keep.safetensors'], code: 1, says: 'keep.safetensors already exists (--force overwrites)' },
    { fault: 'bad input in a batch', args: ['import', 'junk.pth', '--out', 'imported.safetensors'], code: 1, says: 'junk.pth: ', then: () => expect(existsSync(at('imported.safetensors'))).toBe(false) },
    { fault: 'unknown option', args: ['import', REF, '--out', 'x.safetensors', '--weight', 'trained'], code: 2, says: 'unknown option --weight (did you mean --weights?)' },
  ],
  init: [
    { fault: 'unwritable output', args: ['init', '--preset', 'test-micro', '--out', 'blocker/m.safetensors'], code: 1, says: 'is a file, not a folder' },
    { fault: 'existing output', args: ['init', '--preset', 'test-micro', '--out', 'keep.safetensors'], code: 1, says: 'keep.safetensors already exists' },
    { fault: 'bad input in a batch', args: ['init', '--config', 'junk.json', '--out', 'init.safetensors'], code: 1, says: 'junk.json: not a config' },
    { fault: 'unknown option', args: ['init', '--preset', 'test-micro', '--out', 'x.safetensors', '--sed', '3'], code: 2, says: 'unknown option --sed (did you mean --seed?)' },
  ],
  encode: [
    { fault: 'unwritable output', args: ['encode', face(0), '--out', 'blocker/w.safetensors', ...M], code: 1, says: 'blocker/w.safetensors: cannot be written: ' },
    { fault: 'existing output', args: ['encode', face(0), '--out', 'keep.safetensors', ...M], code: 1, says: 'keep.safetensors already exists (--force overwrites)' },
    junkAmongFaces('encode', 'w.safetensors', 'encoded 2 faces into w.safetensors; '),
    { fault: 'unknown option', args: ['encode', face(0), '--out', 'w2.json', '--face', 'all', ...M], code: 2, says: 'unknown option --face (did you mean --faces?)' },
  ],
  reconstruct: [
    { fault: 'unwritable output', args: ['reconstruct', face(0), '--out', 'blocker/rec', ...M], code: 1, says: 'blocker/rec: cannot be written: ' },
    { fault: 'existing output', args: ['reconstruct', face(0), '--out', 'earlier-rec', ...M], code: 1, says: 'earlier-rec/00000_0.png already exists' },
    junkAmongFaces('reconstruct', 'rec', '', async () => expect((await readdir(at('rec'))).sort()).toEqual(['00000_0.png', '00001_0.png', 'sheet.png'])),
    { fault: 'unknown option', args: ['reconstruct', face(0), '--out', 'rec2', '--sheetmax', '3', ...M], code: 2, says: 'unknown option --sheetmax (did you mean --sheet-max?)' },
  ],
  mix: [
    { fault: 'unwritable output', args: ['mix', '--source', face(0), '--target', face(1), '--levels', 'coarse', '--out', 'blocker/m.png', ...M], code: 1, says: 'blocker/m.png: cannot be written: ' },
    { fault: 'existing output', args: ['mix', '--source', face(0), '--target', face(1), '--levels', 'coarse', '--out', 'keep.png', ...M], code: 1, says: 'keep.png already exists' },
    {
      fault: 'bad input in a batch',
      args: ['mix', '--grid', '--sources', face(0), face(1), '--targets', 'junk.jpg', face(2), '--out', 'grid.png', ...M, '-q'],
      code: 1,
      says: 'target: junk.jpg: unsupported image format',
      then: (r) => expect(r.stdout).toContain('wrote grid.png (1 targets x 2 sources); 3 of 4 inputs done; failed: junk.jpg (unsupported image format)'),
    },
    { fault: 'unknown option', args: ['mix', '--source', face(0), '--target', face(1), '--level', 'coarse', '--out', 'm.png', ...M], code: 2, says: 'unknown option --level (did you mean --levels?)' },
  ],
  generate: [
    { fault: 'unwritable output', args: ['generate', '--seeds', '1-2', '--out', 'blocker/gen', ...M], code: 1, says: 'blocker/gen: cannot be written: ' },
    { fault: 'existing output', args: ['generate', '--seeds', '1-2', '--out', 'earlier-gen', ...M], code: 1, says: 'earlier-gen/seed0002.png already exists' },
    { fault: 'bad input in a batch', args: ['generate', '--seeds', '1-2', '--out', 'gen-bad', '--model', 'junk.safetensors'], code: 1, says: 'junk.safetensors: ', then: () => expect(existsSync(at('gen-bad'))).toBe(false) },
    { fault: 'unknown option', args: ['generate', '--seed', '1-2', '--out', 'gen', ...M], code: 2, says: 'unknown option --seed (did you mean --seeds?)' },
  ],
  interpolate: [
    { fault: 'unwritable output', args: ['interpolate', face(0), face(1), '--out', 'blocker/s.png', ...M], code: 1, says: 'blocker/s.png: cannot be written: ' },
    { fault: 'existing output', args: ['interpolate', face(0), face(1), '--out', 'keep.png', ...M], code: 1, says: 'keep.png already exists' },
    { fault: 'bad input in a batch', args: ['interpolate', face(0), 'junk.jpg', '--out', 'strip.png', ...M], code: 1, says: 'junk.jpg: unsupported image format', then: () => expect(existsSync(at('strip.png'))).toBe(false) },
    { fault: 'unknown option', args: ['interpolate', face(0), face(1), '--out', 'strip.png', '--step', '3', ...M], code: 2, says: 'unknown option --step (did you mean --steps?)' },
  ],
  edit: [
    { fault: 'unwritable output', args: ['edit', face(0), '--direction', 'd.npy', '--amount', '1', '--out', 'blocker/e.png', ...M], code: 1, says: 'blocker/e.png: cannot be written: ' },
    { fault: 'existing output', args: ['edit', face(0), '--direction', 'd.npy', '--amount', '1', '--out', 'keep.png', ...M], code: 1, says: 'keep.png already exists' },
    { fault: 'bad input in a batch', args: ['edit', face(0), '--direction', 'junk.npy', '--amount', '1', '--out', 'e.png', ...M], code: 1, says: 'junk.npy: ', then: () => expect(existsSync(at('e.png'))).toBe(false) },
    { fault: 'unknown option', args: ['edit', face(0), '--direction', 'd.npy', '--amont', '1', '--out', 'e.png', ...M], code: 2, says: 'unknown option --amont (did you mean --amount?)' },
  ],
  tui: [
    { fault: 'unwritable output', args: ['tui', face(0), '--out', 'blocker/saves', ...M], code: 1, says: 'blocker/saves: cannot be written: ' },
    { fault: 'unknown option', args: ['tui', face(0), '--graphic', 'kitty', ...M], code: 2, says: 'unknown option --graphic (did you mean --graphics?)' },
  ],
  train: [
    { fault: 'unwritable output', args: ['train', '--preset', 'test-micro', '--data', 'train-data', '--out', 'blocker/run'], code: 1, says: 'blocker/run: cannot be written: ' },
    {
      fault: 'existing output',
      args: ['train', '--preset', 'test-micro', '--data', 'train-data', '--out', 'earlier-run'],
      code: 1,
      says: 'earlier-run: holds a run (latest checkpoint checkpoints/ckpt-0000000008.safetensors) that this one would overwrite; continue it with --resume, or give another --out',
    },
    {
      fault: 'bad input in a batch',
      args: ['train', '--preset', 'test-micro', '--config', 'micro.json', '--data', 'train-data', '--cache-dir', 'cache', '--out', 'run', '--max-kimg', '0.004', '--plain', '--no-samples'],
      code: 0,
      lines: 0,
      says: '',
      then: async (r) => {
        expect(r.stdout).toContain('data train-data: 4 training images, 2 skipped');
        expect(r.stdout).toContain(`skipped ${at('train-data', 'junk.png')}: `);
        expect(r.stdout).toContain(`skipped ${at('train-data', 'tiny.png')}: 1x1 (its centre square) is smaller than the 16x16 it is trained at`);
        const log = await readFile(at('run', 'skipped-files.txt'), 'utf8');
        expect(log.split('\n').filter(Boolean).map((l) => path.basename(l.split('\t')[0]))).toEqual(['junk.png', 'tiny.png']);
      },
    },
    { fault: 'unknown option', args: ['train', '--preset', 'test-micro', '--data', 'train-data', '--out', 'run2', '--max-kimgs', '1'], code: 2, says: 'unknown option --max-kimgs (did you mean --max-kimg?)' },
  ],
  eval: [
    { fault: 'unwritable output', args: ['eval', '--json', 'blocker/report.json'], code: 1, says: 'blocker/report.json: cannot be written: ' },
    { fault: 'existing output', args: ['eval', '--json', 'keep.json'], code: 1, says: 'keep.json already exists' },
    { fault: 'bad input in a batch', args: ['eval', '--model', 'junk.safetensors', '--held-out', '10'], code: 1, says: 'junk.safetensors: ' },
    { fault: 'unknown option', args: ['eval', '--heldout', '10'], code: 2, says: 'unknown option --heldout (did you mean --held-out?)' },
  ],
  parity: [
    { fault: 'unknown option', args: ['parity', '--backnd', 'cpu', 'x'], code: 2, says: 'unknown option --backnd (did you mean --backend?)' },
  ],
  bench: [
    { fault: 'unknown option', args: ['bench', '--row', 'infer-mnist'], code: 2, says: 'unknown option --row (did you mean --rows?)' },
  ],
};

beforeAll(async () => {
  await testBackend();
  await writeRandomModel(at('micro.safetensors'), 'test-micro', 5, { noise: true });
  await mkdir(at('faces'));
  for (const i of [0, 1, 2]) await copyFile(path.join(FFHQ, `0000${i}.png`), at(face(i)));
  await writeFile(at('blocker'), 'a regular file: nothing can be created under it');
  for (const f of ['junk.jpg', 'junk.safetensors', 'junk.pth', 'junk.json', 'junk.npy']) await writeFile(at(f), 'not what its name says');
  await writeFile(at('d.npy'), encodeNpy([16], new Float32Array(16).fill(0.5)));
  // Outputs made earlier: the commands must stop before touching them.
  for (const f of ['keep.safetensors', 'keep.png', 'keep.json']) await writeFile(at(f), `made by the user: ${f}`);
  await mkdir(at('earlier-demo'));
  await writeFile(at('earlier-demo', 'reconstruction.png'), 'an earlier demo');
  await mkdir(at('earlier-rec'));
  await writeFile(at('earlier-rec', '00000_0.png'), 'an earlier reconstruction');
  await writeFile(at('earlier-rec', 'notes.txt'), 'not ours');
  await mkdir(at('earlier-gen'));
  await writeFile(at('earlier-gen', 'seed0002.png'), 'an earlier seed');
  await mkdir(at('earlier-run', 'checkpoints'), { recursive: true });
  await writeFile(at('earlier-run', 'latest'), 'checkpoints/ckpt-0000000008.safetensors\n');
  await writeFile(at('earlier-run', 'checkpoints', 'ckpt-0000000008.safetensors'), 'an earlier run');
  await writeFile(at('earlier-run', 'metrics.jsonl'), '{"kimg":0.008}\n');
  // Training data: four faces, a file that is not an image, and an image too small to train on.
  await mkdir(at('train-data'));
  for (const i of [0, 1, 2, 3]) await copyFile(path.join(CELEBA, `0000${i}.png`), at('train-data', `0000${i}.png`));
  await writeFile(at('train-data', 'junk.png'), 'not a png');
  await sharp({ create: { width: 1, height: 1, channels: 3, background: { r: 255, g: 255, b: 255 } } }).png().toFile(at('train-data', 'tiny.png'));
  await writeFile(at('micro.json'), JSON.stringify({ train: { lodBatch: [4] } }));
}, 120_000);

describe.skipIf(!existsSync(FFHQ) || !existsSync(CELEBA) || !existsSync(REF))('every command, every fault', () => {
  for (const [cmd, cases] of Object.entries(CASES)) {
    it(`${cmd}: ${cases.map((c) => c.fault).join(', ')}`, async () => {
      for (const c of cases) {
        const before = await snapshot();
        const r = await alae(...c.args);
        const what = `${c.fault}: alae ${c.args.join(' ')}\n${r.stderr}`;
        expect(r.code, what).toBe(c.code);
        const lines = r.stderr.split('\n').filter(Boolean);
        expect(lines.length, what).toBe(c.lines ?? 1);
        for (const l of lines) expect(l, what).toMatch(new RegExp(`^alae ${cmd}: `));
        expect(r.stderr, what).not.toMatch(/^\s+at /m);
        if (lines.length) {
          if (typeof c.says === 'string') expect(lines[0], what).toContain(c.says);
          else expect(lines[0], what).toMatch(c.says);
        }
        const after = await snapshot();
        for (const [file, hash] of before) expect(after.get(file), `${what}\n${file} changed`).toBe(hash);
        await c.then?.(r);
      }
    }, 120_000);
  }

  it('--force replaces an output that exists (and only then)', async () => {
    const r = await alae('mix', '--source', face(0), '--target', face(1), '--levels', 'coarse', '--out', 'keep.png', ...M, '--force');
    expect(r.code, r.stderr).toBe(0);
    expect((await sharp(at('keep.png')).metadata()).format).toBe('png');
    const g = await alae('generate', '--seeds', '1-2', '--out', 'earlier-gen', ...M, '--force');
    expect(g.code, g.stderr).toBe(0);
    expect((await readdir(at('earlier-gen'))).sort()).toEqual(['seed0001.png', 'seed0002.png']);
    expect((await stat(at('earlier-gen', 'seed0002.png'))).size).toBeGreaterThan(100);
  }, 60_000);
});
