import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { resolveConfig } from '../../src/config/config.js';
import { AlaeModel } from '../../src/model/alae.js';
import { hostMemoryBackend } from '../../src/backend/backend.js';
import { LREQAdam } from '../../src/train/lreq-adam.js';
import { disposeParts, type GradParts } from '../../src/train/grad-parts.js';
import { lerpAveraged } from '../../src/train/step.js';
import { lerpUpdate } from '../../src/train/param-update.js';
import { seededNormals } from '../../src/train/noise.js';
import { testBackend } from '../setup-backend.js';

beforeAll(testBackend);

const config = resolveConfig('test-micro');
const bits = (t: tf.Tensor): Uint32Array => new Uint32Array(Float32Array.from(t.dataSync() as Float32Array).buffer);

/** Gradients of every size the model has, with zeros, tiny and large values mixed in. */
function grads(model: AlaeModel, seed: number): Map<string, GradParts> {
  const out = new Map<string, GradParts>();
  let k = 0;
  for (const [name, v] of model.vars) {
    const g = Float32Array.from(seededNormals(seed + k++, v.size), (x, i) => (i % 7 === 0 ? 0 : i % 11 === 0 ? x * 1e4 : i % 13 === 0 ? x * 1e-6 : x));
    out.set(name, [tf.tensor(g, v.shape)]);
  }
  return out;
}

describe('host updates (JS loops on cpu/native)', () => {
  it('runs on the backends that keep tensors in JS memory', () => {
    expect(hostMemoryBackend()).toBe(['cpu', 'native'].includes(tf.getBackend()));
  });

  it('LREQAdam: the same bits as the tfjs op chain, step after step, and no tensor left', () => {
    const a = AlaeModel.create(config, 3), b = AlaeModel.create(config, 3);
    const nets = ['encoder', 'mapping_d', 'decoder', 'mapping_f'] as const;
    const host = new LREQAdam(a, [...nets], { lr: 0.002, hostUpdates: true });
    const ops = new LREQAdam(b, [...nets], { lr: 0.002, hostUpdates: false });
    for (let step = 0; step < 3; step++) {
      const g = grads(a, 100 * step);
      const before = tf.memory().numTensors;
      host.step(a, g);
      ops.step(b, g);
      // The first step creates one state variable per parameter in each optimizer.
      expect(tf.memory().numTensors).toBe(before + (step === 0 ? 2 * a.vars.size : 0));
      g.forEach(disposeParts);
    }
    const init = AlaeModel.create(config, 3);
    let changed = 0;
    for (const [name, v] of a.vars) {
      expect(bits(v), name).toEqual(bits(b.vars.get(name)!));
      expect(bits(host.state.get(name)!.expAvgSq), name).toEqual(bits(ops.state.get(name)!.expAvgSq));
      expect(host.state.get(name)!.step).toBe(3);
      const start = bits(init.vars.get(name)!);
      changed += Number(bits(v).some((x, i) => x !== start[i]));
    }
    // Every parameter got a gradient, so every one moved.
    expect(changed).toBe(a.vars.size);
    host.dispose(); ops.dispose(); a.dispose(); b.dispose(); init.dispose();
  });

  it('weight averaging: the same bits as the tfjs op chain, no tensor left', () => {
    const a1 = AlaeModel.create(config, 5), a2 = AlaeModel.create(config, 5), t = AlaeModel.create(config, 6);
    const before = tf.memory().numTensors;
    lerpAveraged(a1, t, 0.5 ** (32 / 10000), true);
    lerpAveraged(a2, t, 0.5 ** (32 / 10000), false);
    expect(tf.memory().numTensors).toBe(before);
    for (const [name, v] of a1.vars) expect(bits(v), name).toEqual(bits(a2.vars.get(name)!));
    const init = AlaeModel.create(config, 5);
    const name = 'decoder.decode_block.1.conv_2.weight';
    expect(bits(a1.vars.get(name)!)).not.toEqual(bits(init.vars.get(name)!));
    a1.dispose(); a2.dispose(); t.dispose(); init.dispose();
  });

  it('averaging toward a tensor repeated along the leading axes (the tracked average w): the bits of tfjs\'s broadcast chain', () => {
    const avg = tf.variable(tf.tensor(seededNormals(1, 6 * 5), [6, 5]), false);
    const mean = tf.tensor(seededNormals(2, 5), [5]);
    const want = tf.tidy(() => tf.add(avg, tf.mul(tf.sub(mean, avg), 1 - 0.995)));
    const before = tf.memory().numTensors;
    lerpUpdate([{ avg, trained: mean }], 1 - 0.995, true);
    expect(tf.memory().numTensors).toBe(before);
    expect(bits(avg)).toEqual(bits(want));
    const bad = tf.zeros([4]);
    expect(() => lerpUpdate([{ avg, trained: bad }], 0.5, true)).toThrow(/sizes differ/);
    tf.dispose([avg, mean, want, bad]);
  });
});
