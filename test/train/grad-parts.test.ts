import { beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor } from '../../src/tf.js';
import { resolveConfig } from '../../src/config/config.js';
import { AlaeModel } from '../../src/model/alae.js';
import { hostMemoryBackend } from '../../src/backend/backend.js';
import { LREQAdam } from '../../src/train/lreq-adam.js';
import { addParts, disposeParts, sumParts, type GradParts } from '../../src/train/grad-parts.js';
import { gradientParts, gradients } from '../../src/train/tape.js';
import { seededNormals } from '../../src/train/noise.js';
import { testBackend } from '../setup-backend.js';

beforeAll(testBackend);

const bits = (t: Tensor): Uint32Array => new Uint32Array(Float32Array.from(t.dataSync() as Float32Array).buffer);
const vec = (v: number[]): Tensor => tf.tensor1d(v);

/**
 * Gradients in 1 to 3 parts per parameter, of mixed magnitudes (1e4 against 1 against 1e-6), so
 * that the rounding of their sum depends on the order of the adds.
 */
function partGrads(model: AlaeModel, seed: number): Map<string, GradParts> {
  const out = new Map<string, GradParts>();
  let k = 0;
  for (const [name, v] of model.vars) {
    const count = 1 + (k % 3);
    out.set(name, Array.from({ length: count }, (_, part) => tf.tensor(Float32Array.from(seededNormals(seed + 10 * k + part, v.size),
      (x, i) => ((i + part) % 7 === 0 ? 0 : (i + part) % 11 === 0 ? x * 1e4 : (i + part) % 13 === 0 ? x * 1e-6 : x)), v.shape)));
    k++;
  }
  return out;
}

describe('gradient parts (train/grad-parts.ts)', () => {
  it('sumParts adds left to right as tf.add does, and leaves no tensor', () => {
    // 1e8 + 1 rounds back to 1e8 in float32, so (1e8 + 1) + 1 differs from 1e8 + (1 + 1).
    const parts = [vec([1e8, 3]), vec([1, 0.1]), vec([1, 0.2])];
    const before = tf.memory().numTensors;
    const s = sumParts(parts);
    expect(tf.memory().numTensors).toBe(before + 1);
    const fold = tf.tidy(() => tf.add(tf.add(parts[0], parts[1]), parts[2]));
    expect(bits(s)).toEqual(bits(fold));
    expect(s.dataSync()[0]).toBe(1e8);
    const one = sumParts([parts[0]]);
    expect(one).not.toBe(parts[0]);
    expect(bits(one)).toEqual(bits(parts[0]));
    tf.dispose([s, fold, one, ...parts]);
    expect(() => sumParts([])).toThrow(/at least one part/);
  });

  it('addParts keeps a second gradient of one part as it is and sums one of several first (the value of tf.add(a, b))', () => {
    const [a0, b0, b1, b2] = [vec([1e8]), vec([4]), vec([3]), vec([3])];
    const before = tf.memory().numTensors;
    expect(addParts([a0], [b0])).toEqual([a0, b0]);
    expect(tf.memory().numTensors).toBe(before);
    const merged = addParts([a0], [b1, b2]);
    expect(merged.length).toBe(2);
    expect(merged[0]).toBe(a0);
    expect(b1.isDisposed && b2.isDisposed).toBe(true);
    expect(tf.memory().numTensors).toBe(before - 1);
    // 1e8 + 6 rounds up to 1e8 + 8 in float32; (1e8 + 3) + 3 would stay at 1e8.
    const value = sumParts(merged);
    expect(value.dataSync()[0]).toBe(1e8 + 8);
    tf.dispose([value, a0, b0, ...merged]);
  });

  for (const host of [true, false]) {
    it(`LREQAdam on parts: the bits of LREQAdam on their tf.add sum, step after step (${host ? 'host loops' : 'tfjs ops'}), no tensor left`, (ctx) => {
      if (host && !hostMemoryBackend()) ctx.skip(`host updates need a backend with tensors in JS memory (cpu, native), not ${tf.getBackend()}`);
      const config = resolveConfig('test-micro');
      const a = AlaeModel.create(config, 3), b = AlaeModel.create(config, 3);
      const nets = ['encoder', 'mapping_d', 'decoder', 'mapping_f'] as const;
      const withParts = new LREQAdam(a, [...nets], { lr: 0.002, hostUpdates: host });
      const summed = new LREQAdam(b, [...nets], { lr: 0.002, hostUpdates: false });
      for (let step = 0; step < 3; step++) {
        const g = partGrads(a, 100 * step);
        const sums = new Map([...g].map(([k, parts]) => [k, [sumParts(parts)]]));
        const before = tf.memory().numTensors;
        withParts.step(a, g);
        expect(tf.memory().numTensors).toBe(before + (step === 0 ? a.vars.size : 0));
        summed.step(b, sums);
        g.forEach(disposeParts);
        sums.forEach(disposeParts);
      }
      for (const [name, v] of a.vars) {
        expect(bits(v), name).toEqual(bits(b.vars.get(name)!));
        expect(bits(withParts.state.get(name)!.expAvgSq), name).toEqual(bits(summed.state.get(name)!.expAvgSq));
      }
      withParts.dispose(); summed.dispose(); a.dispose(); b.dispose();
    });
  }
});

describe('gradientParts (train/tape.ts)', () => {
  const w = tf.variable(tf.tensor1d([0.5, -1.5, 2, 0.25]), true, 'parts-w');
  const v = tf.variable(tf.tensor1d([1.5, 0.5, -2, 1]), true, 'parts-v');
  const x = tf.tensor1d([0.3, -0.2, 0.9, -1.1]);
  // R1's pattern: w is used in the inner forward and, through the inner gradient, in the inner backward.
  const h = (y: Tensor): tf.Scalar => tf.sum(tf.mul(tf.sin(tf.mul(y, w)), v));
  const loss = (): tf.Scalar => tf.tidy(() => tf.add(tf.sum(tf.square(gradients(() => h(x), [x]).grads[0]!)), tf.sum(tf.mul(w, v))));

  it('keeps a parameter reached from several places as parts whose sum is the bits of gradients()', () => {
    const before = tf.memory().numTensors;
    const ours = gradientParts(loss, [w, v]);
    const plain = gradients(loss, [w, v]);
    expect(ours.grads[0]!.length).toBeGreaterThan(1);
    ours.grads.forEach((parts, i) => {
      const s = sumParts(parts!);
      expect(bits(s)).toEqual(bits(plain.grads[i]!));
      s.dispose();
    });
    tf.dispose([ours.value, plain.value, ...plain.grads.filter((g): g is Tensor => g !== null)]);
    ours.grads.forEach((p) => disposeParts(p!));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses an inner tape (its gradients are differentiated again, as tensors)', () => {
    expect(() => gradients(() => tf.sum(gradientParts(() => h(x), [x]).grads[0]![0]), [w])).toThrow(/outermost/);
  });
});
