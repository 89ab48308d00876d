/**
 * The native backend under test against tfjs's cpu backend (native.test.ts,
 * native-elementwise.test.ts): the backend's set-up around a describe block,
 * seeded inputs, and the comparison of one function's outputs on both.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { tf } from '../../src/tf.js';
import { loadNativeAddon, registerNativeBackend, type NativeAddon } from '../../src/backend/native.js';
import { randArray, size } from './random-array.js';

/**
 * For a describe block: the native backend registered before its tests; after
 * them the addon's SIMD level back to 'auto' (a test may pin one) and cpu the backend.
 */
export function useNativeBackend(): { readonly addon: NativeAddon } {
  let addon: NativeAddon | undefined;
  beforeAll(async () => {
    await registerNativeBackend();
    addon = loadNativeAddon();
    await tf.ready();
  });
  afterAll(() => {
    addon?.setSimd('auto');
    tf.setBackend('cpu');
  });
  return {
    get addon(): NativeAddon {
      return addon!;
    },
  };
}

export interface Input {
  shape: number[];
  data: Float32Array;
}
/** Seeded values of a shape (random-array.ts), each through `map` if given. */
export const input = (shape: number[], seed: number, map?: (v: number) => number): Input => {
  const data = randArray(size(shape), seed);
  if (map) for (let i = 0; i < data.length; i++) data[i] = map(data[i]);
  return { shape, data };
};

type Fn = (...ts: tf.Tensor[]) => tf.Tensor | tf.Tensor[];

/** f on fresh tensors under the given backend: every output's shape and values. */
export function runOn(backend: string, inputs: Input[], f: Fn): { shape: number[]; data: Float32Array }[] {
  tf.setBackend(backend);
  const outs = tf.tidy(() => {
    const ts = inputs.map((i) => tf.tensor(i.data, i.shape, 'float32'));
    const r = f(...ts);
    return Array.isArray(r) ? r : [r];
  });
  const res = outs.map((t) => ({ shape: t.shape, data: Float32Array.from(t.dataSync() as Float32Array) }));
  tf.dispose(outs);
  return res;
}

/** max |a - b| / max |b|; NaN where the two disagree on NaN-ness. */
export function relErr(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let e = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) || Number.isNaN(b[i])) {
      if (Number.isNaN(a[i]) !== Number.isNaN(b[i])) return NaN;
      continue;
    }
    if (a[i] === b[i]) {
      m = Math.max(m, Math.abs(b[i]));
      continue;
    }
    e = Math.max(e, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return m === 0 ? e : e / m;
}

/** This test file's comparisons so far and the worst relative error among them, for its closing log line. */
export const compared = { count: 0, worst: 0 };

/**
 * Run f on cpu and on native: same shapes, relative error below tol (0: the
 * same bits, NaN included), and no tensors left on native. Returns the worst error.
 */
export function compareOnNative(inputs: Input[], f: Fn, tol: number): number {
  const ref = runOn('cpu', inputs, f);
  tf.setBackend('native');
  const before = tf.memory().numTensors;
  const got = runOn('native', inputs, f);
  expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
  let worst = 0;
  got.forEach((g, i) => {
    expect(g.shape, `output ${i} shape`).toEqual(ref[i].shape);
    if (tol === 0) {
      const same = g.data.every((v, j) => Object.is(v, ref[i].data[j]));
      expect(same, `output ${i} bit-identical`).toBe(true);
      return;
    }
    const err = relErr(g.data, ref[i].data);
    worst = Math.max(worst, err);
    expect(err, `output ${i}`).toBeLessThan(tol);
  });
  compared.count++;
  compared.worst = Math.max(compared.worst, worst);
  return worst;
}
