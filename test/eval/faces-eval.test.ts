/**
 * evaluateFaces on a small random RGB model and the shared FFHQ crops: the
 * report's shape and ranges, refinement with 0 steps measuring exactly the
 * one-pass reconstructions, no tensors left, a non-face model refused.
 * A random model reconstructs no face, so only ranges are checked.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { tf } from '../../src/tf.js';
import { AlaeError } from '../../src/errors.js';
import { resolveConfig } from '../../src/config/config.js';
import { createModel, type Alae } from '../../src/api/alae.js';
import { evaluateFaces, type FaceEvalStage } from '../../src/eval/faces.js';

const FFHQ = path.resolve('../shared/faces/ffhq-aligned256');
let alae: Alae;

beforeAll(async () => {
  await testBackend();
  // Crops aligned already: no detector. The identity box is FFHQ's (the preset's alignment).
  alae = await createModel('test-micro', { align: 'none', seed: 4 });
});
afterAll(() => alae?.dispose());

describe('evaluateFaces', () => {
  it('one-pass and refined: MSE and identity in range; 0 steps is the one-pass result; no tensors left', async () => {
    const before = tf.memory().numTensors;
    const stages = new Set<FaceEvalStage>();
    const r = await evaluateFaces(alae, FFHQ, { limit: 3, refine: { steps: 0 }, onProgress: (p) => {
      expect(p.done).toBeLessThanOrEqual(p.total);
      stages.add(p.stage);
    } });
    expect(tf.memory().numTensors).toBe(before);
    expect([...stages].sort()).toEqual(['encode', 'identity', 'reconstruct']);
    expect(r).toMatchObject({ model: 'random test-micro', config: 'test-micro', faces: 3, failures: [], seed: 0 });
    expect(r.rows.map((x) => path.basename(x.source))).toEqual(['00000.png', '00001.png', '00002.png']);
    expect(r.onePass.mse).toBeGreaterThan(0);
    expect(r.onePass.mse).toBeLessThanOrEqual(4);
    expect(Math.abs(r.onePass.identity)).toBeLessThanOrEqual(1);
    expect(r.refined).toMatchObject({ steps: 0, mse: r.onePass.mse, identity: r.onePass.identity });

    const two = await evaluateFaces(alae, [path.join(FFHQ, '00003.png'), path.join(FFHQ, 'missing.png')], { refine: { steps: 2 } });
    expect(two.faces).toBe(1);
    expect(two.failures).toHaveLength(1);
    expect(two.failures[0].source).toMatch(/missing\.png$/);
    expect(two.refined!.mse).not.toBe(two.onePass.mse);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a model that is not of faces, naming it', async () => {
    const gray = await createModel(resolveConfig('test-micro', { model: { channels: 1 } }), { align: 'none' });
    try {
      await expect(evaluateFaces(gray, FFHQ, { limit: 1 })).rejects.toThrow(AlaeError);
      await expect(evaluateFaces(gray, FFHQ, { limit: 1 })).rejects.toThrow(/face model/);
    } finally {
      gray.dispose();
    }
  });
});
