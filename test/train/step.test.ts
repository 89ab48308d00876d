import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { resolveConfig } from '../../src/config/config.js';
import { AlaeModel } from '../../src/model/alae.js';
import { LREQAdam } from '../../src/train/lreq-adam.js';
import { Rng } from '../../src/util/random.js';
import { averagingBeta, blendReal, lerpAveraged, trainIteration, type StepOptions, type TrainState } from '../../src/train/step.js';
import { seededNormals } from '../../src/train/noise.js';
import { testBackend } from '../setup-backend.js';

beforeAll(testBackend);

const config = resolveConfig('test-micro');
const OPTS: StepOptions = { r1Gamma: 10, styleMixingProb: 0.9, dlatentAvgBeta: 0.995, torchZeroGrad: true };

function makeState(seed = 1): TrainState {
  const model = AlaeModel.create(config, seed);
  const averaged = AlaeModel.create(config, seed + 100);
  return {
    model,
    averaged,
    encoderOpt: new LREQAdam(model, ['encoder', 'mapping_d'], { lr: 0.0015 }),
    decoderOpt: new LREQAdam(model, ['decoder', 'mapping_f'], { lr: 0.0015 }),
    rng: new Rng(seed, 101),
  };
}

function dispose(st: TrainState): void {
  st.encoderOpt.dispose();
  st.decoderOpt.dispose();
  st.model.dispose();
  st.averaged.dispose();
}

function batch(n: number, res: number, seed: number): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(seededNormals(seed, n * res * res * 3), (v) => Math.tanh(v)), [n, res, res, 3]);
}

const values = (v: tf.Variable): Float32Array => v.dataSync() as Float32Array;

describe('trainIteration', () => {
  it('runs 50 iterations on test-micro with a constant tensor count and finite losses', async () => {
    const before = tf.memory().numTensors;
    const st = makeState();
    const x = batch(2, 4, 7);
    const counts: number[] = [];
    for (let i = 0; i < 50; i++) {
      const l = await trainIteration(st, x, { lod: 0, blend: 1, inTransition: false }, OPTS);
      expect(Number.isFinite(l.d) && Number.isFinite(l.g) && Number.isFinite(l.ae)).toBe(true);
      counts.push(tf.memory().numTensors);
    }
    // After the first iteration the only new tensors are the optimizers' state, one per parameter stepped.
    const states = st.encoderOpt.state.size + st.decoderOpt.state.size;
    const models = 2 * (st.model.vars.size + 1);
    expect(counts[0]).toBe(before + models + states + 1);
    expect(new Set(counts).size).toBe(1);
    x.dispose();
    dispose(st);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is a deterministic function of the Rng state', async () => {
    const x = batch(2, 4, 3);
    const run = async (seed: number) => {
      const st = makeState(1);
      st.rng = new Rng(seed, 101);
      const out = [await trainIteration(st, x, { lod: 0, blend: 1, inTransition: false }, OPTS)];
      out.push(await trainIteration(st, x, { lod: 0, blend: 1, inTransition: false }, OPTS));
      const rng = st.rng.getState();
      dispose(st);
      return { out, rng };
    };
    const a = await run(5);
    const b = await run(5);
    const c = await run(6);
    expect(b).toEqual(a);
    expect(c.out[0].g).not.toBe(a.out[0].g);
    x.dispose();
  });

  it('steps D a second time with a zero gradient in step 3, as torch 1.4 zero_grad does', async () => {
    const x = batch(2, 4, 11);
    const lv = { lod: 0, blend: 1, inTransition: false };
    const withQuirk = makeState(2);
    const without = makeState(2);
    await trainIteration(withQuirk, x, lv, OPTS);
    await trainIteration(without, x, lv, { ...OPTS, torchZeroGrad: false });
    const dName = 'mapping_d.map_blocks.0.weight';
    const eName = `encoder.from_rgb.${config.model.layerCount - 1}.from_rgb.weight`;
    expect(withQuirk.encoderOpt.state.get(dName)!.step).toBe(2);
    expect(without.encoderOpt.state.get(dName)!.step).toBe(1);
    expect(withQuirk.encoderOpt.state.get(eName)!.step).toBe(2); // lossD and lossAE
    expect(withQuirk.decoderOpt.state.get('decoder.const')!.step).toBe(2); // lossG and lossAE
    // The zero step moves no weight, but v decays: D's next real step differs.
    expect(values(withQuirk.model.vars.get(dName)!)).toEqual(values(without.model.vars.get(dName)!));
    const v1 = values(withQuirk.encoderOpt.state.get(dName)!.expAvgSq);
    const v0 = values(without.encoderOpt.state.get(dName)!.expAvgSq);
    for (let i = 0; i < 8; i++) expect(Math.abs(v1[i] - v0[i] * 0.99)).toBeLessThanOrEqual(1e-6 * v0[i]);
    await trainIteration(withQuirk, x, lv, OPTS);
    await trainIteration(without, x, lv, { ...OPTS, torchZeroGrad: false });
    expect(values(withQuirk.model.vars.get(dName)!)).not.toEqual(values(without.model.vars.get(dName)!));
    dispose(withQuirk);
    dispose(without);
    x.dispose();
  });

  it('moves the averaged networks by 1 - 0.5 ** (batch / 10000) and leaves dlatent_avg to the trained model', () => {
    expect(averagingBeta(16)).toBeCloseTo(0.5 ** 0.0016, 15);
    const a = AlaeModel.create(config, 1);
    const t = AlaeModel.create(config, 2);
    const name = 'decoder.decode_block.1.conv_2.weight';
    const before = values(a.vars.get(name)!).slice();
    const target = values(t.vars.get(name)!);
    const avgBefore = values(a.dlatentAvg).slice();
    lerpAveraged(a, t, 0.75);
    const after = values(a.vars.get(name)!);
    for (let i = 0; i < 10; i++) expect(after[i]).toBeCloseTo(before[i] + (target[i] - before[i]) * 0.25, 6);
    expect(values(a.dlatentAvg)).toEqual(avgBefore);
    a.dispose();
    t.dispose();
  });

  it('tracks dlatent_avg toward the batch mean of F(z) (beta 0: exactly the last mean)', async () => {
    const st = makeState(3);
    const x = batch(2, 4, 5);
    await trainIteration(st, x, { lod: 0, blend: 1, inTransition: false }, { ...OPTS, dlatentAvgBeta: 0, styleMixingProb: 0 });
    const avg = values(st.model.dlatentAvg);
    const latent = config.model.latentSize;
    // Every style slot holds the same mean, and it is a mean of mapped w (non-zero).
    for (let s = 1; s < 2 * config.model.layerCount; s++) expect(Array.from(avg.slice(s * latent, (s + 1) * latent))).toEqual(Array.from(avg.slice(0, latent)));
    expect(avg.slice(0, latent).some((v) => v !== 0)).toBe(true);
    dispose(st);
    x.dispose();
  });

  it('blends the real batch with its pooled-and-upsampled self during a fade-in', () => {
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [1, 4, 4, 1]);
    const low = blendReal(x, { lod: 1, blend: 0, inTransition: true }).dataSync();
    // 2x2 means: 3.5, 5.5, 11.5, 13.5, each repeated over its block.
    expect(Array.from(low)).toEqual([3.5, 3.5, 5.5, 5.5, 3.5, 3.5, 5.5, 5.5, 11.5, 11.5, 13.5, 13.5, 11.5, 11.5, 13.5, 13.5]);
    const q = blendReal(x, { lod: 1, blend: 0.25, inTransition: true }).dataSync();
    expect(q[0]).toBeCloseTo(0.25 * 1 + 0.75 * 3.5, 6);
    expect(Array.from(blendReal(x, { lod: 1, blend: 1, inTransition: false }).dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose(x);
  });
});
