/**
 * What `alae train` decides, through the library: planRun / Trainer.resume
 * with a new schedule (only where it agrees with the epochs already run,
 * the checkpoint's config rewritten), the run-folder rule (no run is ever
 * lost: a folder holding another run, or a run's files, is refused before
 * anything is built and is left byte-identical), the data checked against
 * the config before a model is built, and the run's data (images too small
 * for the run left out and named, in skipped-files.txt).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tf } from '../../src/tf.js';
import { resolveConfig } from '../../src/config/config.js';
import { openDataset } from '../../src/data/open.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { AlaeModel } from '../../src/model/alae.js';
import { findCheckpoint, readCheckpoint } from '../../src/train/checkpoint.js';
import { Trainer } from '../../src/train/trainer.js';
import { openRunData, planRun } from '../../src/train/run-plan.js';
import { RunFolderTaken } from '../../src/train/run-folder.js';
import { testBackend } from '../setup-backend.js';

const FACES = resolve(__dirname, '../../../shared/faces/celeba-aligned128');

let tmp: string;
let faces: string;
let dataset: ImageDataset;
let outA: string;

// Three epochs of 8 images, batch 4: epochs 0-1 at lod 0, epoch 2 at lod 1.
const micro = (train: object = {}) => resolveConfig('test-micro', { train: { epochsPerLod: 2, trainEpochs: 3, lodBatch: [4], ...train } });

/** Every file under a folder: its sha256. */
async function hashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string) => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
      const r = join(rel, e.name);
      if (e.isDirectory()) await walk(r);
      else out[r] = createHash('sha256').update(await readFile(join(dir, r))).digest('hex');
    }
  };
  await walk('');
  return out;
}

async function train(t: Trainer): Promise<void> {
  try {
    await t.run();
  } finally {
    t.dispose();
  }
}

beforeAll(async () => {
  await testBackend();
  tmp = await mkdtemp(join(tmpdir(), 'alae-plan-'));
  faces = join(tmp, 'faces');
  await mkdir(faces);
  for (let i = 0; i < 8; i++) await copyFile(join(FACES, `0000${i}.png`), join(faces, `0000${i}.png`));
  dataset = await openDataset(faces, { channels: 3, cacheDir: join(tmp, 'cache') });
  outA = join(tmp, 'runA');
  await train(await Trainer.start({ config: micro(), dataset, outDir: outA, samples: false }));
}, 120_000);

afterAll(async () => {
  await dataset?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe.skipIf(!existsSync(FACES))('planRun and Trainer.resume: a new schedule', () => {
  it('refuses a schedule that rewrites the epochs run, or other settings, or a shorter run; the checkpoint is untouched', async () => {
    const before = await hashes(outA);
    const resume = (o: { config?: ReturnType<typeof micro>; trainEpochs?: number }) => Trainer.resume(outA, { dataset, outDir: outA, ...o });
    // Decaying from epoch 1 would rewrite epochs 1 and 2, trained at 0.0015.
    await expect(resume({ config: micro({ trainEpochs: 5, learningDecaySteps: [1], learningDecayRate: 0.5 }) })).rejects.toThrow('epoch 1 learning rate 0.00075 where the run trained at 0.0015');
    await expect(resume({ config: micro({ trainEpochs: 5, r1Gamma: 1 }) })).rejects.toThrow('sets train.r1Gamma to 1 where the run has 10');
    await expect(resume({ config: resolveConfig('test-tiny32') })).rejects.toThrow('another architecture');
    await expect(resume({ trainEpochs: 3 })).rejects.toThrow('the run is already in epoch 3 (give more than 3)');
    expect(await hashes(outA)).toEqual(before);
  });

  it('continues a finished run on a longer, decayed schedule; the checkpoint records it', async () => {
    const out = join(tmp, 'decayed');
    const given = micro({ trainEpochs: 5, learningDecaySteps: [3, 4], learningDecayRate: 0.5 });
    const plan = await planRun({ outDir: out, resume: outA, config: given });
    expect(plan.kind).toBe('resume');
    expect(plan.config.train).toEqual({ ...micro().train, trainEpochs: 5, learningDecaySteps: [3, 4], learningDecayRate: 0.5 });
    await expect(Trainer.open(plan, { dataset, outDir: outA })).rejects.toThrow(`the session writes to ${outA}, but the plan checked ${out}`);
    const lrs: number[] = [];
    const t = await Trainer.open(plan, { dataset, outDir: out, samples: false, onIteration: (i) => lrs.push(i.lr) });
    await train(t);
    expect(lrs).toEqual([0.00075, 0.00075, 0.000375, 0.000375]); // epochs 3 and 4, two iterations each
    const ck = await readCheckpoint((await findCheckpoint(out))!);
    expect(ck.progress).toMatchObject({ epoch: 5, imagesTotal: 40 });
    expect(ck.config.train).toEqual(plan.config.train);
  });

  it('trainEpochs extends a run at its last level, keeping the rest of its config', async () => {
    const out = join(tmp, 'longer');
    await train(await Trainer.resume(outA, { dataset, outDir: out, samples: false, trainEpochs: 4 }));
    const ck = await readCheckpoint((await findCheckpoint(out))!);
    expect(ck.progress).toMatchObject({ epoch: 4, imagesTotal: 32, lod: 1 });
    expect(ck.config.train).toEqual({ ...micro().train, trainEpochs: 4 });
  });
});

describe.skipIf(!existsSync(FACES))('the run folder: no run is ever lost', () => {
  it('a new run into a folder holding a run is refused before anything is built, naming the run; the folder is untouched', async () => {
    const before = await hashes(outA);
    const create = vi.spyOn(AlaeModel, 'create');
    const tensors = tf.memory().numTensors;
    const err = await Trainer.start({ config: micro(), dataset, outDir: outA }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunFolderTaken);
    expect((err as RunFolderTaken).checkpoint).toBe(join(outA, 'checkpoints', 'ckpt-0000000024.safetensors'));
    expect((err as RunFolderTaken).message).toBe(`${outA}: holds a run (latest checkpoint checkpoints/ckpt-0000000024.safetensors) that this one would overwrite`);
    expect(create).not.toHaveBeenCalled();
    create.mockRestore();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(await hashes(outA)).toEqual(before);
    // So is a run continued from elsewhere into it.
    await expect(planRun({ outDir: outA, resume: join(tmp, 'longer') })).rejects.toBeInstanceOf(RunFolderTaken);
  });

  it("a folder with a run's files but no run is refused, naming them; an empty or new one is fine", async () => {
    const mine = join(tmp, 'mine');
    await mkdir(mine);
    await writeFile(join(mine, 'model.safetensors'), 'a model the user keeps here');
    await writeFile(join(mine, 'notes.txt'), 'not a run file');
    const err = await planRun({ outDir: mine, config: micro() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunFolderTaken);
    expect((err as RunFolderTaken).checkpoint).toBeNull();
    expect((err as RunFolderTaken).files).toEqual(['model.safetensors']);
    const empty = join(tmp, 'empty');
    await mkdir(empty);
    await writeFile(join(empty, 'notes.txt'), 'not a run file');
    expect((await planRun({ outDir: empty, config: micro() })).kind).toBe('new');
    expect((await planRun({ outDir: join(tmp, 'not-yet'), config: micro(), resume: true })).kind).toBe('new');
  });

  it('checks the data against the schedule before building a model: a batch larger than an epoch', async () => {
    const create = vi.spyOn(AlaeModel, 'create');
    await expect(Trainer.start({ config: micro({ lodBatch: [16] }), dataset, outDir: join(tmp, 'big-batch') })).rejects.toThrow('the batch at lod 0 (16) is larger than an epoch (8 images)');
    expect(create).not.toHaveBeenCalled();
    create.mockRestore();
    expect(existsSync(join(tmp, 'big-batch'))).toBe(false);
  });
});

describe.skipIf(!existsSync(FACES))("a run's data", () => {
  it('leaves out images smaller than the run trains at and files that do not decode, naming each in skipped-files.txt', async () => {
    const data = join(tmp, 'mixed');
    await mkdir(join(data, 'sub'), { recursive: true });
    for (let i = 0; i < 4; i++) await copyFile(join(FACES, `0000${i}.png`), join(data, `0000${i}.png`));
    await copyFile(join(FACES, '00004.png'), join(data, 'sub', '00004.png'));
    await sharp({ create: { width: 8, height: 12, channels: 3, background: { r: 9, g: 9, b: 9 } } }).png().toFile(join(data, 'small.png'));
    await writeFile(join(data, 'broken.jpg'), 'not a jpeg');
    const plan = await planRun({ outDir: join(tmp, 'runM'), config: micro() });
    const ds = await openRunData(data, plan, { cacheDir: join(tmp, 'cache-mixed') });
    try {
      expect(ds.size).toBe(4); // the subfolder is not read by default
      expect(ds.skipped.map((s) => s.file)).toEqual([join(data, 'broken.jpg'), join(data, 'small.png')]);
      expect(ds.skipped[0].reason).toMatch(/unsupported image format/i);
      expect(ds.skipped[1].reason).toBe('8x8 (its centre square) is smaller than the 16x16 it is trained at');
      await train(await Trainer.open(plan, { dataset: ds, outDir: plan.outDir, samples: false, maxKimg: 0.004 }));
      const log = (await readFile(join(plan.outDir, 'skipped-files.txt'), 'utf8')).trim().split('\n');
      expect(log.map((l) => l.split('\t')[0])).toEqual([join(data, 'broken.jpg'), join(data, 'small.png')]);
    } finally {
      await ds.close();
    }
    const all = await openRunData(data, plan, { cacheDir: join(tmp, 'cache-mixed'), recursive: true });
    expect(all.size).toBe(5);
    await all.close();
  });
});
