import { describe, expect, it } from 'vitest';
import type { ImageDataset } from '../../src/data/dataset.js';
import { BatchLoader } from '../../src/data/loader.js';
import type { Batch } from '../../src/data/loader.js';

/** Image i: pixel (y, x, c) = (i * 7 + x * 3 + y + c * 50) mod 256. Counts calls. */
class FakeDataset implements ImageDataset {
  readonly name = 'fake';
  readonly channels: number;
  readonly maxResolution = null;
  readonly skipped = [];
  gets = 0;
  prepared: number[] = [];
  constructor(
    readonly size: number,
    channels = 3,
    readonly trainIndices?: ArrayLike<number>,
  ) {
    this.channels = channels;
  }
  async prepare(r: number): Promise<void> {
    if (!this.prepared.includes(r)) this.prepared.push(r);
  }
  async get(i: number, r: number): Promise<Uint8Array> {
    this.gets++;
    await new Promise((res) => setTimeout(res, 0));
    return FakeDataset.pixels(i, r, this.channels);
  }
  static pixels(i: number, r: number, ch: number): Uint8Array {
    const a = new Uint8Array(r * r * ch);
    for (let y = 0; y < r; y++) for (let x = 0; x < r; x++) for (let c = 0; c < ch; c++) a[(y * r + x) * ch + c] = (i * 7 + x * 3 + y + c * 50) & 255;
    return a;
  }
  async close(): Promise<void> {}
}

async function take(loader: BatchLoader, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < n; i++) out.push(await loader.next());
  return out;
}

const order = (bs: Batch[]) => bs.flatMap((b) => [...b.indices]);

describe('BatchLoader', () => {
  it('produces float NHWC batches in [-1, 1] from uint8 / 127.5 - 1', async () => {
    const ds = new FakeDataset(10);
    const loader = new BatchLoader(ds, { batchSize: 4, resolution: 4, seed: 1 });
    const b = await loader.next();
    expect(b.shape).toEqual([4, 4, 4, 3]);
    expect(b.data.length).toBe(4 * 4 * 4 * 3);
    const px = FakeDataset.pixels(b.indices[2], 4, 3);
    for (let j = 0; j < px.length; j++) expect(b.data[2 * 48 + j]).toBe(Math.fround(px[j] / 127.5 - 1));
    expect(ds.prepared).toEqual([4]);
    loader.close();
  });

  it('is deterministic for a seed and differs for another seed', async () => {
    const a = order(await take(new BatchLoader(new FakeDataset(50), { batchSize: 8, resolution: 2, seed: 42, mirror: true }), 10));
    const b = order(await take(new BatchLoader(new FakeDataset(50), { batchSize: 8, resolution: 2, seed: 42, mirror: true }), 10));
    const c = order(await take(new BatchLoader(new FakeDataset(50), { batchSize: 8, resolution: 2, seed: 43, mirror: true }), 10));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    // the order does not depend on mirroring
    const d = order(await take(new BatchLoader(new FakeDataset(50), { batchSize: 8, resolution: 2, seed: 42 }), 10));
    expect(d).toEqual(a);
  });

  it('shows every index exactly once per epoch, with a new order each epoch', async () => {
    const n = 37;
    const loader = new BatchLoader(new FakeDataset(n), { batchSize: 5, resolution: 1, seed: 3 });
    const batches = await take(loader, 30); // 150 samples: 4 full epochs and a bit
    expect(batches.every((b) => b.indices.length === 5)).toBe(true);
    const seq = order(batches);
    const epochs: number[][] = [];
    for (let e = 0; e < 4; e++) {
      const ep = seq.slice(e * n, (e + 1) * n);
      expect([...ep].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
      epochs.push(ep);
    }
    expect(epochs[0]).not.toEqual(epochs[1]);
    expect(loader.epoch).toBe(4);
    expect(loader.getState().position).toBe(150 - 4 * n);
    expect(batches[7].epoch).toBe(0); // samples 35..39 start in epoch 0
    expect(batches[8].epoch).toBe(1);
  });

  it('restores from a saved state and continues identically', async () => {
    const opts = { batchSize: 6, resolution: 2, seed: 9, mirror: true };
    const ref = new BatchLoader(new FakeDataset(23), opts);
    const first = await take(ref, 5);
    const state = JSON.parse(JSON.stringify(ref.getState()));
    const rest = await take(ref, 9);

    const resumed = new BatchLoader(new FakeDataset(23), opts);
    resumed.restore(state);
    const again = await take(resumed, 9);
    expect(order(again)).toEqual(order(rest));
    for (let i = 0; i < 9; i++) {
      expect(again[i].flipped).toEqual(rest[i].flipped);
      expect(again[i].data).toEqual(rest[i].data);
    }
    expect(order(first)).not.toEqual(order(again).slice(0, 30));
    // a state for a different number of images is refused
    const other = new BatchLoader(new FakeDataset(24), opts);
    expect(() => other.restore(state)).toThrow(/23 images/);
  });

  it('getState reflects consumed batches, not prefetched ones', async () => {
    const ds = new FakeDataset(100);
    const loader = new BatchLoader(ds, { batchSize: 4, resolution: 2, seed: 5, prefetch: 3 });
    await loader.next();
    expect(loader.getState()).toMatchObject({ epoch: 0, position: 4 });
    // prefetching: the next batches are already being decoded
    await new Promise((r) => setTimeout(r, 20));
    expect(ds.gets).toBe(16);
  });

  it('mirrors about half of the images, left-right', async () => {
    const loader = new BatchLoader(new FakeDataset(64), { batchSize: 64, resolution: 4, seed: 11, mirror: true });
    const b = await loader.next();
    const flips = b.flipped.reduce((a, v) => a + v, 0);
    expect(flips).toBeGreaterThan(16);
    expect(flips).toBeLessThan(48);
    const per = 4 * 4 * 3;
    for (let k = 0; k < 64; k++) {
      const px = FakeDataset.pixels(b.indices[k], 4, 3);
      for (let y = 0; y < 4; y++)
        for (let x = 0; x < 4; x++)
          for (let c = 0; c < 3; c++) {
            const sx = b.flipped[k] ? 3 - x : x;
            expect(b.data[k * per + (y * 4 + x) * 3 + c]).toBe(Math.fround(px[(y * 4 + sx) * 3 + c] / 127.5 - 1));
          }
    }
    const plain = await new BatchLoader(new FakeDataset(64), { batchSize: 64, resolution: 4, seed: 11 }).next();
    expect(plain.flipped.every((v) => v === 0)).toBe(true);
  });

  it('changes resolution and batch size between levels without losing its place', async () => {
    const ref = order(await take(new BatchLoader(new FakeDataset(30), { batchSize: 1, resolution: 2, seed: 8 }), 40));
    const ds = new FakeDataset(30);
    const loader = new BatchLoader(ds, { batchSize: 4, resolution: 2, seed: 8 });
    const a = await take(loader, 3);
    loader.reset({ resolution: 8, batchSize: 7 });
    const b = await take(loader, 4);
    expect(b[0].shape).toEqual([7, 8, 8, 3]);
    expect([...order(a), ...order(b)]).toEqual(ref);
    expect(ds.prepared).toContain(8);
  });

  it('samples only the given or train indices', async () => {
    const ds = new FakeDataset(20, 1, [1, 3, 5, 7]);
    const loader = new BatchLoader(ds, { batchSize: 3, resolution: 2, seed: 1 });
    const seen = new Set(order(await take(loader, 8)));
    expect([...seen].sort()).toEqual([1, 3, 5, 7]);
    const only = new BatchLoader(ds, { batchSize: 2, resolution: 2, seed: 1, indices: [10, 11] });
    expect(new Set(order(await take(only, 3)))).toEqual(new Set([10, 11]));
    expect(() => new BatchLoader(ds, { batchSize: 2, resolution: 2, seed: 1, indices: [20] })).toThrow(/out of range/);
    expect(() => new BatchLoader(ds, { batchSize: 0, resolution: 2, seed: 1 })).toThrow(/batch size/);
  });

  it('reports a failing image and retries the same batch', async () => {
    const ds = new FakeDataset(10);
    let fail = true;
    const orig = ds.get.bind(ds);
    ds.get = async (i, r) => {
      if (fail) throw new Error('disk on fire');
      return orig(i, r);
    };
    const loader = new BatchLoader(ds, { batchSize: 4, resolution: 2, seed: 2 });
    await expect(loader.next()).rejects.toThrow(/disk on fire/);
    fail = false;
    const b = await loader.next();
    const ref = await new BatchLoader(new FakeDataset(10), { batchSize: 4, resolution: 2, seed: 2 }).next();
    expect([...b.indices]).toEqual([...ref.indices]);
  });
});
