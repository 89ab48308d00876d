/**
 * evaluateMnist on a small random 1-channel 32x32 model with small limits:
 * the report's shape and ranges, the pixel classifier's real accuracy on
 * MNIST, determinism, no tensors left, and models of the wrong format
 * rejected by name. A random model reconstructs nothing, so only the
 * ranges of its numbers are checked, not their size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { tf } from '../../src/tf.js';
import { AlaeError } from '../../src/errors.js';
import { resolveConfig } from '../../src/config/config.js';
import { createModel, type Alae } from '../../src/api/alae.js';
import { evaluateMnist, type EvalStage, type MnistEvalReport } from '../../src/eval/mnist.js';

let alae: Alae;
const LIMITS = { heldOutLimit: 50, trainLimit: 300, generatedCount: 20 };

beforeAll(async () => {
  await testBackend();
  alae = await createModel(resolveConfig('test-tiny32', { model: { channels: 1 } }), { align: 'none', seed: 2 });
});
afterAll(() => alae?.dispose());

const measured = (r: MnistEvalReport) => ({ ...r, seconds: 0, stageSeconds: {} });

describe('evaluateMnist', () => {
  it('reports every measure in range, the same twice, with no tensors left', async () => {
    const before = tf.memory().numTensors;
    const stages = new Set<EvalStage>();
    const r = await evaluateMnist(alae, { ...LIMITS, batchSize: 32, onProgress: (p) => {
      expect(p.done).toBeLessThanOrEqual(p.total);
      stages.add(p.stage);
    } });
    expect(tf.memory().numTensors).toBe(before);
    expect([...stages].sort()).toEqual(['encode-held-out', 'encode-train', 'generate', 'pixel-knn', 'reconstruct', 'w-knn']);

    expect(r).toMatchObject({ model: 'random test-tiny32', config: 'test-tiny32', data: 'mnist', heldOut: 50, train: 300, seed: 0 });
    expect(r.backend).toBe(tf.getBackend());
    // Images in [-1, 1]: a squared error is at most 4.
    expect(r.reconstructionMse).toBeGreaterThan(0);
    expect(r.reconstructionMse).toBeLessThanOrEqual(4);
    for (const share of [r.reconstructionLabelKept, r.pixel1nnOnInputs, r.wKnnAccuracy]) {
      expect(share).toBeGreaterThanOrEqual(0);
      expect(share).toBeLessThanOrEqual(1);
      expect(Number.isInteger(share * 50)).toBe(true);
    }
    // A property of MNIST itself: 1-NN in pixels over 300 train digits already gets most right.
    expect(r.pixel1nnOnInputs).toBeGreaterThan(0.7);
    const g = r.generated!;
    expect(g).toMatchObject({ count: 20, firstSeed: 0, truncationPsi: 1 });
    expect(g.labelHistogram).toHaveLength(10);
    expect(g.labelHistogram.reduce((a, b) => a + b, 0)).toBe(20);
    expect(Number.isInteger(g.confidentShare * 20) && g.confidentShare >= 0 && g.confidentShare <= 1).toBe(true);
    expect(r.seconds).toBeGreaterThan(0);
    expect(Object.keys(r.stageSeconds)).toHaveLength(7);
    expect(r.refined).toBeNull();

    const again = await evaluateMnist(alae, { ...LIMITS, batchSize: 17 });
    expect(measured(again)).toEqual(measured(r));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refine: a refined section; with 0 steps exactly the one-pass measures; snapshots measured as their own runs', async () => {
    const before = tf.memory().numTensors;
    const stages = new Set<EvalStage>();
    const limits = { heldOutLimit: 12, trainLimit: 40, generatedCount: 3 };
    // One batch size for both: untaped native convolutions sum in float32 in blocks that follow the
    // batch (ALAE_NATIVE_CONV_ACCUM=fp64 makes them batch-independent), so another size moves the last bits.
    const zero = await evaluateMnist(alae, { ...limits, batchSize: 5, refine: { steps: 0 } });
    expect(zero.refined).toMatchObject({ steps: 0, space: 'w', from: 'encoder', reconstructionMse: zero.reconstructionMse, reconstructionLabelKept: zero.reconstructionLabelKept });
    const r = await evaluateMnist(alae, { ...limits, batchSize: 5, refine: { steps: 3, space: 'w+', lr: 0.05, snapshotAt: [0, 3] }, onProgress: (p) => {
      expect(p.done).toBeLessThanOrEqual(p.total);
      stages.add(p.stage);
    } });
    expect(stages.has('refine')).toBe(true);
    const f = r.refined!;
    expect(f).toMatchObject({ steps: 3, space: 'w+', from: 'encoder', lr: 0.05 });
    expect(f.reconstructionMse).toBeGreaterThan(0);
    expect(f.reconstructionMse).not.toBe(r.reconstructionMse);
    expect(Number.isInteger(f.reconstructionLabelKept * 12)).toBe(true);
    expect(f.secondsPerImage).toBeGreaterThan(0);
    // Step 0 is the one pass (w+ of E(x) broadcast), step 3 the run's end.
    expect(r.refinedAt.map((s) => [s.steps, s.reconstructionMse, s.reconstructionLabelKept])).toEqual([
      [0, r.reconstructionMse, r.reconstructionLabelKept],
      [3, f.reconstructionMse, f.reconstructionLabelKept],
    ]);
    expect(zero.refinedAt).toEqual([]);
    // The rest of the report does not move.
    expect({ ...measured(r), refined: null, refinedAt: [] }).toEqual({ ...measured(zero), refined: null });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('takes a seed and truncation, and can skip the samples', async () => {
    const r = await evaluateMnist(alae, { heldOutLimit: 10, trainLimit: 20, generatedCount: 0, seed: 3 });
    expect(r.generated).toBeNull();
    expect([r.heldOut, r.train, r.seed]).toEqual([10, 20, 3]);
    const t = await evaluateMnist(alae, { heldOutLimit: 10, trainLimit: 20, generatedCount: 4, truncation: { psi: 0.5 } });
    expect(t.generated).toMatchObject({ count: 4, truncationPsi: 0.5 });
    await expect(evaluateMnist(alae, { trainLimit: 4 })).rejects.toThrow(/train limit must be an integer >= 5/);
    await expect(evaluateMnist(alae, { heldOutLimit: 10, trainLimit: 20, batchSize: 0 })).rejects.toThrow(AlaeError);
  });

  it('rejects a model that is not 1-channel 32x32, naming it', async () => {
    const before = tf.memory().numTensors;
    for (const cfg of [resolveConfig('test-tiny32'), resolveConfig('test-micro', { model: { channels: 1 } })]) {
      const m = await createModel(cfg, { align: 'none' });
      const err = await evaluateMnist(m, LIMITS).catch((e: unknown) => e);
      m.dispose();
      expect(err).toBeInstanceOf(AlaeError);
      expect((err as AlaeError).file).toBe(`random ${cfg.name}`);
      expect((err as AlaeError).message).toMatch(/needs a 1-channel 32x32 model.*this one is (32x32 with 3|16x16 with 1) channels/);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
