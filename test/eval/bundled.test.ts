/**
 * The shipped weights (models/default.safetensors) against the bundled
 * model's targets, on all 1,000 held-out digits and all 9,000 training
 * digits: a reconstruction keeps its digit (1-NN pixel classifier) for at
 * least 90% of them, and held-out w are classified by 5-NN over the
 * training w with at least 95% accuracy. The figures the README quotes come
 * from `npm run eval`, which runs this same measurement.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { tf } from '../../src/tf.js';
import { loadModel, type Alae } from '../../src/api/alae.js';
import { DEFAULT_MODEL } from '../../src/api/bundled.js';
import { evaluateMnist, MNIST_TARGETS } from '../../src/eval/mnist.js';

let alae: Alae;

beforeAll(async () => {
  await testBackend();
  alae = await loadModel(DEFAULT_MODEL, { align: 'none' });
});
afterAll(() => alae?.dispose());

describe('the bundled model', () => {
  it('meets its quality targets on the held-out digits', async () => {
    const before = tf.memory().numTensors;
    const r = await evaluateMnist(alae, { generatedCount: 200 });
    expect(tf.memory().numTensors).toBe(before);
    expect(r).toMatchObject({ config: 'mnist-small', heldOut: 1000, train: 9000 });
    expect(r.reconstructionLabelKept).toBeGreaterThanOrEqual(MNIST_TARGETS.reconstructionLabelKept);
    expect(r.wKnnAccuracy).toBeGreaterThanOrEqual(MNIST_TARGETS.wKnnAccuracy);
    // Closer in pixels than the mean held-out digit is to each of them (MSE 0.205; a blank image: 0.343).
    expect(r.reconstructionMse).toBeLessThan(0.2);
    // Generation covers every digit.
    expect(r.generated!.labelHistogram.every((n) => n > 0)).toBe(true);
  });
});
