import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { resolveConfig, PRESET_NAMES } from '../../src/config/config.js';
import { AlaeModel } from '../../src/model/alae.js';
import { usedBlocks } from '../../src/model/levels.js';
import { countParams, idleParams, paramSpecs } from '../../src/model/params.js';
import { testBackend } from '../setup-backend.js';

beforeAll(testBackend);

describe('AlaeModel', () => {
  const cfg = resolveConfig('test-micro');

  it('shapes at every level of detail and blend', () => {
    const m = AlaeModel.create(cfg, 1);
    for (let lod = 0; lod <= m.maxLod; lod++) {
      const res = 4 * 2 ** lod;
      const x = tf.randomNormal([2, res, res, 3]) as tf.Tensor4D;
      for (const blend of lod > 0 ? [0.5, 1] : [1]) {
        const w = m.encode(x, { lod, blend });
        expect(w.shape).toEqual([2, cfg.model.latentSize]);
        const img = m.decode(w, { lod, blend, noise: { seed: 3 } });
        expect(img.shape).toEqual([2, res, res, 3]);
        tf.dispose([w, img]);
      }
      x.dispose();
    }
    m.dispose();
  });

  it('the same noise seed gives the same image, another seed another', () => {
    const m = AlaeModel.create(cfg, 2);
    // noise weights start at zero in the reference init: give them some weight so noise matters
    for (const [k, v] of m.vars) if (k.includes('noise_weight')) v.assign(tf.onesLike(v));
    const w = tf.randomNormal([1, cfg.model.latentSize]);
    const a = m.decode(w, { noise: { seed: 5 } }).dataSync();
    const b = m.decode(w, { noise: { seed: 5 } }).dataSync();
    const c = m.decode(w, { noise: { seed: 6 } }).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    m.dispose();
  });

  it('truncation moves slots below the cutoff toward the average by psi, leaves the rest', () => {
    const m = AlaeModel.create(cfg, 3);
    m.dlatentAvg.assign(tf.randomNormal(m.dlatentAvg.shape));
    const s = m.broadcastStyles(tf.randomNormal([2, cfg.model.latentSize]));
    const t = m.truncate(s, 0.5, 2);
    const d = tf.tidy(() => tf.sub(t, tf.add(m.dlatentAvg, tf.mul(tf.sub(s, m.dlatentAvg), 0.5)))).arraySync() as number[][][];
    const same = tf.tidy(() => tf.sub(t, s)).arraySync() as number[][][];
    for (let slot = 0; slot < 6; slot++) {
      const v = slot < 2 ? d[0][slot] : same[0][slot];
      expect(Math.max(...v.map(Math.abs))).toBeLessThan(1e-6);
    }
    m.dispose();
  });

  it('mixStyles takes exactly the requested slots from the source', () => {
    const m = AlaeModel.create(cfg, 4);
    const a = m.broadcastStyles(tf.zeros([1, cfg.model.latentSize]));
    const b = m.broadcastStyles(tf.ones([1, cfg.model.latentSize]));
    const mixed = m.mixStyles(a, b, [0, 4]).arraySync() as number[][][];
    expect(mixed[0].map((row) => row[0])).toEqual([1, 1, 1, 1, 0, 0]);
    const tail = m.mixStyles(a, b, [4, 8]).arraySync() as number[][][];
    expect(tail[0].map((row) => row[0])).toEqual([0, 0, 0, 0, 1, 1]);
    // a 16x16 model has 6 slots: none from slot 8 on
    expect(() => m.mixStyles(a, b, [8, Infinity])).toThrow(/empty style range/);
    m.dispose();
  });

  it('slot styles (training): decode of one tensor per slot, with F(z) and F(z2) in one batch, is decode of the mixed styles tensor', async () => {
    const m = AlaeModel.create(cfg, 7);
    for (const [k, v] of m.vars) if (k.includes('style') && k.endsWith('bias')) v.assign(tf.randomNormal(v.shape, 0, 0.3, 'float32', 8));
    const z = tf.randomNormal([2, cfg.model.latentSize], 0, 1, 'float32', 9), z2 = tf.randomNormal([2, cfg.model.latentSize], 0, 1, 'float32', 10);
    const before = tf.memory().numTensors;
    const { w, slots } = m.mapStyles(z, { z2, cutoff: 2 }, 'once');
    expect(slots).toHaveLength(6);
    const [wz, wz2] = [m.map(z), m.map(z2)];
    const maxDiff = (u: tf.Tensor, v: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(u, v))).dataSync()[0]);
    expect(maxDiff(w, wz)).toBeLessThan(1e-6);
    expect(maxDiff(slots[5], wz2)).toBeLessThan(1e-6);
    expect(slots[0]).toBe(w);
    const mixed = tf.tidy(() => m.mixStyles(m.broadcastStyles(wz), m.broadcastStyles(wz2), [2, Infinity]));
    const a = m.decode(slots, { noise: { seed: 3 } }), b = m.decode(mixed, { noise: { seed: 3 } });
    const err = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / tf.max(tf.abs(b)).dataSync()[0]);
    expect(err).toBeLessThan(1e-5);
    expect(() => m.decode(slots.slice(1))).toThrow(/takes 6 style slots, got 5/);
    tf.dispose([w, ...new Set(slots), wz, wz2, mixed, a, b]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([z, z2]);
    m.dispose();
  });

  it('rejects bad inputs with clear errors', () => {
    const m = AlaeModel.create(cfg, 5);
    const x = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
    expect(() => m.encode(x)).toThrow(/expects images \[N, 16, 16, 3\]/);
    expect(() => m.encode(x, { lod: 7 })).toThrow(/lod must be an integer in 0\.\.2/);
    expect(() => m.decode(tf.zeros([1, 16]), { blend: 0 })).toThrow(/blend must be in/);
    m.dispose();
    expect(() => m.map(tf.zeros([1, 16]))).toThrow(/disposed/);
  });

  it('public calls leave no tensors behind', () => {
    const m = AlaeModel.create(cfg, 6);
    const x = tf.randomNormal([2, 16, 16, 3]) as tf.Tensor4D;
    const z = tf.randomNormal([2, cfg.model.latentSize]);
    const x8 = tf.randomNormal([2, 8, 8, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const outs = [m.map(z), m.encode(x), m.encode(x8, { lod: 1, blend: 0.3 })];
    outs.push(m.discriminate(outs[1]));
    const s = m.broadcastStyles(outs[0]);
    outs.push(s, m.truncate(s), m.mixStyles(s, s, [0, 2]), m.decode(s, { noise: { seed: 1 } }), m.decode(outs[1], { lod: 1, blend: 0.5 }));
    const noise = m.makeNoise(2, 2, 9);
    outs.push(m.decode(s, { noise }));
    expect(tf.memory().numTensors).toBe(before + outs.length + noise.length);
    tf.dispose([...outs, ...noise]);
    expect(tf.memory().numTensors).toBe(before);
    const n0 = tf.memory().numTensors;
    const c = m.clone();
    c.dispose();
    m.dispose();
    expect(tf.memory().numTensors).toBe(n0 - m.specs.length - 1);
  });

  it('every preset builds a consistent parameter table', () => {
    for (const name of PRESET_NAMES) {
      const c = resolveConfig(name);
      const specs = paramSpecs(c.model);
      expect(new Set(specs.map((s) => s.name)).size).toBe(specs.length);
      expect(countParams(specs)).toBeGreaterThan(0);
    }
    // ffhq: the reference's published model sizes (E and G are the big ones)
    const ffhq = paramSpecs(resolveConfig('ffhq').model);
    expect(countParams(ffhq, 'mapping_f')).toBe(8 * (512 * 512 + 512));
    expect(countParams(ffhq, 'mapping_d')).toBe(2 * (512 * 512 + 512) + 512 * 1024 + 1024);
  });

  it('levels of detail: usedBlocks routes E and G, and the idle parameters are exactly those off the path', () => {
    expect(usedBlocks(cfg.model, 1, 0.5)).toEqual({ fading: true, fromRgb: [1, 2], encodeBlocks: [1, 2], decodeBlocks: [0, 1], toRgb: [1, 0] });
    expect(usedBlocks(cfg.model, 2, 1)).toEqual({ fading: false, fromRgb: [0], encodeBlocks: [0, 1, 2], decodeBlocks: [0, 1, 2], toRgb: [2] });
    expect(usedBlocks(cfg.model, 0, 0.5)).toMatchObject({ fading: false, fromRgb: [2], toRgb: [0] });
    const m = AlaeModel.create(cfg, 5);
    for (const [lod, blend] of [[1, 0.5], [1, 1], [0, 1]]) {
      const res = 4 * 2 ** lod;
      const x = tf.randomNormal([2, res, res, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const z = tf.randomNormal([2, cfg.model.latentSize], 0, 1, 'float32', 2);
      const noise = m.makeNoise(2, lod, 3);
      const vars = m.variables('encoder', 'decoder');
      const { value, grads } = tf.variableGrads(() => tf.add(tf.sum(m.encode(x, { lod, blend })), tf.sum(m.decode(z, { lod, blend, noise }))) as tf.Scalar, vars);
      const idle = idleParams(cfg.model, lod, blend, ['encoder', 'decoder']);
      expect(idle.size).toBeGreaterThan(0);
      for (const s of m.specs.filter((s) => s.network === 'encoder' || s.network === 'decoder')) {
        const g = grads[m.vars.get(s.name)!.name];
        const moved = g ? tf.any(tf.notEqual(g, 0)).dataSync()[0] === 1 : false;
        expect(moved, `${s.name} at lod ${lod}, blend ${blend}`).toBe(!idle.has(s.name));
      }
      tf.dispose([x, z, value, ...noise, ...Object.values(grads)]);
    }
    m.dispose();
  });
});
