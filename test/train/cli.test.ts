/**
 * The built CLI as a user runs it: killed with SIGKILL after its first
 * checkpoint (the checkpoint must be intact and the resumed run must go on
 * from it with the batch the saved loader state says comes next), and
 * stopped with SIGTERM (finish the iteration, checkpoint, exit 143).
 *
 * Runs dist/ (npm test builds it first); rebuilds when dist/ is older than
 * the trainer's sources.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset } from '../../src/data/open.js';
import { BatchLoader } from '../../src/data/loader.js';
import { resolveConfig } from '../../src/config/config.js';
import { findCheckpoint, readCheckpoint } from '../../src/train/checkpoint.js';
import { levelAt } from '../../src/train/schedule.js';
import { trainCommand } from '../../src/cli/train.js';
import { AlaeError } from '../../src/errors.js';
import { UsageError } from '../../src/cli/args.js';

const ROOT = resolve(__dirname, '../..');
const MAIN = join(ROOT, 'dist/cli/main.js');
const FACES = resolve(ROOT, '../shared/faces/celeba-aligned128');

function newest(dir: string): number {
  let t = 0;
  for (const f of execFileSync('find', [dir, '-name', '*.ts*'], { encoding: 'utf8' }).split('\n').filter(Boolean)) t = Math.max(t, statSync(f).mtimeMs);
  return t;
}

function distIsStale(): boolean {
  const built = join(ROOT, 'dist/cli/train.js');
  if (!existsSync(MAIN) || !existsSync(built)) return true;
  const src = Math.max(newest(join(ROOT, 'src/train')), newest(join(ROOT, 'src/cli')), newest(join(ROOT, 'src/tui')));
  return statSync(built).mtimeMs < src;
}

let tmp: string;
let faces: string;
let cfgFile: string;

beforeAll(async () => {
  if (distIsStale()) {
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'pipe' });
    } catch {
      /* type errors elsewhere in the tree still emit JavaScript; the check below decides */
    }
  }
  tmp = await mkdtemp(join(tmpdir(), 'alae-cli-'));
  faces = join(tmp, 'faces');
  await mkdir(faces);
  if (existsSync(FACES)) {
    for (const f of (await readdir(FACES)).filter((f) => f.endsWith('.png')).sort().slice(0, 24)) await copyFile(join(FACES, f), join(faces, f));
  }
  cfgFile = join(tmp, 'micro.json');
  await writeFile(cfgFile, JSON.stringify({ train: { epochsPerLod: 2, trainEpochs: 3, lodBatch: [4] } }));
}, 180_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface Proc {
  child: ChildProcess;
  out: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runCli(args: string[]): Proc {
  const child = spawn(process.execPath, [MAIN, 'train', ...args], { cwd: tmp, env: { ...process.env, ALAE_BACKEND: 'cpu' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  return { child, out: () => text, exit };
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const common = (out: string) => ['--preset', 'test-micro', '--config', cfgFile, '--data', faces, '--cache-dir', join(tmp, 'cache'), '--out', out, '--epoch-images', '8', '--plain', '--verbose', '--no-samples'];

describe.skipIf(!existsSync(FACES))('alae train (built CLI)', () => {
  it('survives SIGKILL: the checkpoint is intact and --resume continues from it', async () => {
    const out = join(tmp, 'killed');
    const a = runCli([...common(out), '--snapshot-kimg', '0.004']);
    await until(() => existsSync(join(out, 'latest')) || a.child.exitCode !== null, 60_000);
    a.child.kill('SIGKILL');
    expect((await a.exit).signal).toBe('SIGKILL');

    const file = await findCheckpoint(out);
    const ck = await readCheckpoint(file!); // parses and checks every tensor
    const p = ck.progress;
    expect(p.iteration).toBeGreaterThanOrEqual(1);
    expect(p.imagesTotal).toBe(4 * p.iteration);

    // The batch the saved loader state says comes next.
    const ds = await openDataset(faces, { channels: 3, cacheDir: join(tmp, 'cache') });
    const spec = { train: ck.config.train, layerCount: ck.config.model.layerCount, epochImages: p.epochImages };
    const lv = levelAt(p.epoch, p.imagesIntoEpoch, spec);
    const loader = new BatchLoader(ds, { batchSize: lv.batch, resolution: lv.resolution, seed: p.seed, mirror: ck.config.train.mirror, prefetch: 1 });
    loader.restore(p.loader);
    const next = [...(await loader.next()).indices];
    loader.close();
    await ds.close();

    const kimg = (p.imagesTotal + 4) / 1000;
    const b = runCli(['--data', faces, '--cache-dir', join(tmp, 'cache'), '--out', out, '--resume', '--max-kimg', String(kimg), '--plain', '--verbose', '--no-samples']);
    const { code } = await b.exit;
    const text = b.out();
    expect(code, text).toBe(0);
    expect(text).toContain(`resumed from ${file} at kimg ${(p.imagesTotal / 1000).toFixed(3)}`);
    const first = /^iter (\d+) kimg ([\d.]+) .* batch \[([\d,]+)\]/m.exec(text)!;
    expect(Number(first[1])).toBe(p.iteration + 1);
    expect(first[3].split(',').map(Number)).toEqual(next);
    const after = await readCheckpoint((await findCheckpoint(out))!);
    expect(after.progress).toMatchObject({ iteration: p.iteration + 1, imagesTotal: p.imagesTotal + 4 });
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
  });

  it('on SIGTERM finishes the iteration, writes a checkpoint and exits 143', async () => {
    const out = join(tmp, 'term');
    const a = runCli(common(out));
    await until(() => /^iter 1 /m.test(a.out()) || a.child.exitCode !== null, 60_000);
    a.child.kill('SIGTERM');
    const { code } = await a.exit;
    const text = a.out();
    expect(code, text).toBe(143);
    const m = /stopped at kimg ([\d.]+)/.exec(text)!;
    const ck = await readCheckpoint((await findCheckpoint(out))!);
    expect(ck.progress.imagesTotal / 1000).toBe(Number(m[1]));
    const iters = [...text.matchAll(/^iter (\d+) /gm)].map((x) => Number(x[1]));
    expect(ck.progress.iteration).toBe(iters.at(-1));
  });
});

describe.skipIf(!existsSync(FACES))('alae train --resume with a new schedule (the rules: test/train/run-plan.test.ts)', () => {
  const out = () => join(tmp, 'extend');
  let done: Awaited<ReturnType<typeof readCheckpoint>>;
  beforeAll(async () => {
    // A whole micro run (3 epochs of 8 images).
    const a = runCli(common(out()));
    expect((await a.exit).code, a.out()).toBe(0);
    done = await readCheckpoint((await findCheckpoint(out()))!);
    expect(done.progress).toMatchObject({ epoch: 3, imagesTotal: 24 });
  }, 180_000);

  it('refuses a schedule that rewrites the epochs run, in one line, and writes nothing', async () => {
    const f = join(tmp, 'decay-past.json');
    await writeFile(f, JSON.stringify({ train: { epochsPerLod: 2, lodBatch: [4], trainEpochs: 5, learningDecaySteps: [1], learningDecayRate: 0.5 } }));
    const b = runCli(['--preset', 'test-micro', '--config', f, '--data', faces, '--cache-dir', join(tmp, 'cache'), '--out', out(), '--resume', '--plain']);
    expect((await b.exit).code).toBe(1);
    expect(b.out()).toMatch(/^alae train: .*ckpt-0000000024\.safetensors: the given config gives epoch 1 learning rate 0\.00075 where the run trained at 0\.0015; .*\n$/);
    expect((await readCheckpoint((await findCheckpoint(out()))!)).progress).toEqual(done.progress);
  });

  it('--train-epochs extends a finished run by an epoch at its last level, keeping the rest of its config', async () => {
    const tooFew = runCli(['--data', faces, '--cache-dir', join(tmp, 'cache'), '--out', out(), '--resume', '--train-epochs', '3', '--plain']);
    expect((await tooFew.exit).code).toBe(1);
    expect(tooFew.out()).toContain('a schedule of 3 epochs in all: the run is already in epoch 3');

    const b = runCli(['--data', faces, '--cache-dir', join(tmp, 'cache'), '--out', out(), '--resume', '--train-epochs', '4', '--plain', '--verbose', '--no-samples']);
    const { code } = await b.exit;
    expect(code, b.out()).toBe(0);
    expect(b.out()).toContain('training complete at kimg 0.032');
    const more = await readCheckpoint((await findCheckpoint(out()))!);
    expect(more.progress).toMatchObject({ epoch: 4, imagesTotal: 32, lod: 1 });
    expect(more.config.train.trainEpochs).toBe(4);
    expect({ ...more.config.train, trainEpochs: 3 }).toEqual(done.config.train);
  });
});

describe('alae train usage', () => {
  it('bad usage is a UsageError (exit 2); a bad config file names the file (exit 1)', async () => {
    await expect(trainCommand(['--preset', 'test-micro'])).rejects.toThrow(new UsageError('--data and --out are required'));
    await expect(trainCommand(['--preset', 'nope', '--data', 'x', '--out', 'y'])).rejects.toThrow(UsageError);
    await expect(trainCommand(['--preset', 'nope', '--data', 'x', '--out', 'y'])).rejects.toThrow(/unknown preset 'nope'/);
    const bad = join(tmpdir(), `alae-bad-${process.pid}.json`);
    await writeFile(bad, '{"train": {"lodBatch": [0]}}');
    await expect(trainCommand(['--config', bad, '--data', 'x', '--out', 'y'])).rejects.toThrow(bad);
    await writeFile(bad, 'not json');
    await expect(trainCommand(['--config', bad, '--data', 'x', '--out', 'y'])).rejects.toThrow(AlaeError);
    await rm(bad);
    await expect(trainCommand(['--preset', 'test-micro', '--data', 'x', '--out', 'y', '--max-kimg', '-1'])).rejects.toThrow(/--max-kimg/);
    await expect(trainCommand(['--preset', 'test-micro', '--data', 'x', '--out', 'y', '--train-epochs', '5'])).rejects.toThrow(/--train-epochs goes with --resume/);
    await expect(trainCommand(['--preset', 'test-micro', '--data', 'x', '--out', 'y', '--force'])).rejects.toThrow(/a run is never overwritten/);
    expect(resolveConfig('test-micro').train.reportKimg[0]).toBe(100);
  });
});
