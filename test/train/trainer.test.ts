/**
 * End to end on real faces: test-micro trained on a few dozen images with a
 * tiny epoch so that it crosses a level change (with a fade-in), then resumed
 * from a mid-run checkpoint, which must reproduce the uninterrupted run
 * exactly (same batches, same random stream, same weights).
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { resolveConfig } from '../../src/config/config.js';
import { openDataset } from '../../src/data/open.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { AlaeError } from '../../src/errors.js';
import { importCheckpoint } from '../../src/io/import.js';
import { loadModel } from '../../src/api/alae.js';
import { readModelFile } from '../../src/io/model-file.js';
import { findCheckpoint, readCheckpoint } from '../../src/train/checkpoint.js';
import { readMetrics } from '../../src/train/metrics.js';
import { type IterationInfo, type TrainReport, Trainer } from '../../src/train/trainer.js';
import { testBackend } from '../setup-backend.js';

const FACES = resolve(__dirname, '../../../shared/faces/celeba-aligned128');
const REF = resolve(__dirname, '../../../shared/alae-reference/tiny32/checkpoint.zip.pth');

let tmp: string;
let dataset: ImageDataset;

beforeAll(async () => {
  await testBackend();
  tmp = await mkdtemp(join(tmpdir(), 'alae-train-'));
  const faces = join(tmp, 'faces');
  await (await import('node:fs/promises')).mkdir(faces);
  const names = (await readdir(FACES)).filter((f) => f.endsWith('.png')).sort().slice(0, 24);
  for (const f of names) await copyFile(join(FACES, f), join(faces, f));
  dataset = await openDataset(faces, { channels: 3, cacheDir: join(tmp, 'cache') });
});

afterAll(async () => {
  await dataset?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

// 2 epochs per level: epochs 0-1 at lod 0 (4x4), epoch 2 at lod 1 (8x8) fading in; 8 images an epoch, batch 4.
const config = resolveConfig('test-micro', { train: { epochsPerLod: 2, trainEpochs: 3, lodBatch: [4], snapshotKimg: [0.004], reportKimg: [0.008] } });

interface Rec {
  iteration: number;
  lod: number;
  blend: number;
  indices: number[];
  losses: IterationInfo['losses'];
}
const rec = (i: IterationInfo): Rec => ({ iteration: i.iteration, lod: i.lod, blend: i.blend, indices: [...i.indices], losses: i.losses });

describe.skipIf(!existsSync(FACES))('Trainer end to end (test-micro on faces)', () => {
  const runA: Rec[] = [];
  const reports: TrainReport[] = [];
  let outA: string;

  it('trains across a level change and writes checkpoints, samples, metrics and the model', async () => {
    outA = join(tmp, 'runA');
    const tensorsBefore = tf.memory().numTensors;
    const trainer = await Trainer.start({
      config,
      dataset,
      outDir: outA,
      seed: 3,
      epochImages: 8,
      onIteration: (i) => runA.push(rec(i)),
      onReport: (r) => reports.push(r),
      onCheckpoint: (path, p) => {
        // Keep the mid-epoch checkpoint after iteration 3 for the resume test (only the last one stays in the run).
        if (p.iteration === 3) return copyFile(path, join(tmp, 'ckpt-it3.safetensors'));
      },
    });
    const result = await trainer.run();
    trainer.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(result.reason).toBe('done');
    expect(result.kimg).toBe(0.024);

    expect(runA.map((r) => r.lod)).toEqual([0, 0, 0, 0, 1, 1]);
    expect(runA.map((r) => r.blend)).toEqual([1, 1, 1, 1, 0, 0.5]);
    for (const r of runA) for (const v of Object.values(r.losses)) expect(Number.isFinite(v)).toBe(true);
    // An epoch (8 images) never repeats an image.
    for (let e = 0; e < 3; e++) expect(new Set([...runA[2 * e].indices, ...runA[2 * e + 1].indices]).size).toBe(8);

    // One checkpoint kept, named by `latest`, complete and at the end of the run.
    const files = await readdir(join(outA, 'checkpoints'));
    expect(files).toEqual(['ckpt-0000000024.safetensors']);
    const latest = await findCheckpoint(outA);
    expect(latest).toBe(join(outA, 'checkpoints', files[0]));
    const ck = await readCheckpoint(latest!);
    expect(ck.progress).toMatchObject({ epoch: 3, imagesIntoEpoch: 0, imagesTotal: 24, iteration: 6, lod: 1 });
    expect(ck.averaged.get('dlatent_avg.buff')).toEqual(ck.trained.get('dlatent_avg.buff'));

    // Reports at 8, 16 and 24 images (the report tick and the epoch ends), in metrics.jsonl too.
    expect(reports.map((r) => r.kimg)).toEqual([0.008, 0.016, 0.024]);
    const metrics = await readMetrics(join(outA, 'metrics.jsonl'));
    expect(metrics.map((m) => m.kimg)).toEqual([0.008, 0.016, 0.024]);
    expect(metrics[2]).toMatchObject({ lod: 1, resolution: 8, samplePath: 'samples/sample-0000000024.png' });
    const mean = (k: 'd' | 'g' | 'ae') => (runA[4].losses[k] + runA[5].losses[k]) / 2;
    expect(metrics[2].losses.d).toBeCloseTo(mean('d'), 10);
    expect(metrics[2].losses.ae).toBeCloseTo(mean('ae'), 10);

    // The sample grid: 5 rows x 4 columns of 8x8 with 2 px padding; row 0 is the real images, exactly.
    const png = await sharp(reports[2].samplePath!).raw().toBuffer({ resolveWithObject: true });
    expect([png.info.width, png.info.height, png.info.channels]).toEqual([4 * 10 + 2, 5 * 10 + 2, 3]);
    const real = await dataset.get(0, 8);
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        for (let c = 0; c < 3; c++) expect(png.data[((2 + y) * png.info.width + 2 + x) * 3 + c]).toBe(real[(y * 8 + x) * 3 + c]);
      }
    }

    // The final model: the averaged networks with the trained model's tracked w average.
    const model = await readModelFile(join(outA, 'model.safetensors'));
    expect(model.arrays.get('decoder.const')).toEqual(ck.averaged.get('decoder.const'));
    expect(model.arrays.get('dlatent_avg.buff')).toEqual(ck.trained.get('dlatent_avg.buff'));

    // A checkpoint loads as a model too (a run stopped early): the same weights as model.safetensors.
    const fromCkpt = await loadModel(latest!, { align: 'none' });
    const arrays = await fromCkpt.model.toArrays();
    fromCkpt.dispose();
    expect(arrays.size).toBe(model.arrays.size);
    for (const [name, v] of model.arrays) expect(arrays.get(name), name).toEqual(v);
    const trainedNets = await loadModel(latest!, { align: 'none', weights: 'trained' });
    expect(await trainedNets.model.vars.get('decoder.const')!.data()).toEqual(ck.trained.get('decoder.const'));
    trainedNets.dispose();
  });

  it('resumes a mid-epoch checkpoint exactly: same batches, same random stream, same weights', async () => {
    const saved = join(tmp, 'ckpt-it3.safetensors');
    expect(existsSync(saved)).toBe(true);
    const outB = join(tmp, 'runB');
    const runB: Rec[] = [];
    // Resume, and stop (as SIGINT does) after the first iteration.
    const b = await Trainer.resume(saved, {
      dataset,
      outDir: outB,
      onIteration: (i) => {
        runB.push(rec(i));
        b.requestStop();
      },
    });
    expect(b.position).toMatchObject({ epoch: 1, imagesIntoEpoch: 4, iteration: 3 });
    const stopped = await b.run();
    b.dispose();
    expect(stopped.reason).toBe('stopped');
    expect(stopped.checkpoint).toBe(join(outB, 'checkpoints', 'ckpt-0000000016.safetensors'));

    // Resume the run folder (its `latest`) to the end.
    const c = await Trainer.resume(outB, { dataset, outDir: outB, onIteration: (i) => runB.push(rec(i)) });
    const done = await c.run();
    c.dispose();
    expect(done.reason).toBe('done');
    expect(runB).toEqual(runA.slice(3));

    const a = await readModelFile(join(outA, 'model.safetensors'));
    const bModel = await readModelFile(join(outB, 'model.safetensors'));
    for (const [k, v] of a.arrays) expect(bModel.arrays.get(k), k).toEqual(v);
    const ckA = await readCheckpoint((await findCheckpoint(outA))!);
    const ckB = await readCheckpoint((await findCheckpoint(outB))!);
    expect(ckB.progress.rng).toEqual(ckA.progress.rng);
    expect(ckB.progress.loader).toEqual(ckA.progress.loader);
    expect(Object.keys(ckB.encoder.state).sort()).toEqual(Object.keys(ckA.encoder.state).sort());
    for (const [k, v] of Object.entries(ckA.encoder.state)) {
      expect(ckB.encoder.state[k].step).toBe(v.step);
      expect(ckB.encoder.state[k].expAvgSq).toEqual(v.expAvgSq);
    }
  });

  it('continues a reference checkpoint (.pth): weights, optimizer state and epoch, one iteration', async (ctx) => {
    ctx.skip(!existsSync(REF), `no reference checkpoint at ${REF}`);
    const ref = await importCheckpoint(REF, { preset: 'test-tiny32' });
    // Epoch 3 of the file; 8 epochs per level keep it at lod 0 so one iteration is quick on a CPU.
    const cfg = resolveConfig('test-tiny32', { train: { epochsPerLod: 8, lodBatch: [2] } });
    const before = tf.memory().numTensors;
    const t = await Trainer.fromReference(REF, { config: cfg, dataset, outDir: join(tmp, 'ref'), samples: false });
    expect(t.position).toMatchObject({ epoch: 3, imagesIntoEpoch: 0, imagesTotal: 3 * 24 });
    for (const name of ['encoder.encode_block.3.conv_1.weight', 'decoder.const', 'mapping_f.map_blocks.0.fc.weight']) {
      expect(t.state.model.vars.get(name)!.dataSync(), name).toEqual(ref.trained!.get(name));
      expect(t.state.averaged.vars.get(name)!.dataSync(), name).toEqual(ref.averaged!.get(name));
    }
    expect(t.state.model.dlatentAvg.dataSync()).toEqual(ref.trained!.get('dlatent_avg.buff'));
    const p = 'encoder.encode_block.3.conv_1.weight';
    expect(t.state.encoderOpt.state.get(p)!.step).toBe(ref.optimizers!.encoder[p].step);
    const info = await t.step();
    expect(info).toMatchObject({ epoch: 3, lod: 0, batch: 2, imagesTotal: 74 });
    for (const v of Object.values(info.losses)) expect(Number.isFinite(v)).toBe(true);
    expect(t.state.encoderOpt.state.get(p)!.step).toBe(ref.optimizers!.encoder[p].step + 2);
    expect(t.state.model.vars.get(p)!.dataSync()).not.toEqual(ref.trained!.get(p));
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a damaged checkpoint with an error naming the file', async () => {
    const good = await readFile((await findCheckpoint(outA))!);
    const cut = join(tmp, 'cut.safetensors');
    await writeFile(cut, good.subarray(0, good.length - 100));
    await expect(Trainer.resume(cut, { dataset, outDir: join(tmp, 'cut') })).rejects.toThrow(AlaeError);
    await expect(Trainer.resume(cut, { dataset, outDir: join(tmp, 'cut') })).rejects.toThrow(cut);
    await expect(Trainer.resume(join(tmp, 'nothing-here'), { dataset, outDir: join(tmp, 'x') })).rejects.toThrow(/nothing-here/);
    await expect(Trainer.resume(join(outA, 'model.safetensors'), { dataset, outDir: join(tmp, 'x') })).rejects.toThrow(/model file/);
  });
});
