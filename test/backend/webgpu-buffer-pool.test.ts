/**
 * The bound on tfjs-webgpu's pool of freed buffers (backend/webgpu/buffer-pool.ts): a large
 * request of a new size reuses the memory of freed buffers of other sizes instead of adding to
 * it, small ones keep tfjs's exact-size reuse, and the values and the device's validation stay
 * right while buffers are given back between submits.
 * Without a GPU it runs on lavapipe (source ../shared/webgpu-cpu/setup.sh); with no adapter at
 * all it shows as skipped, with the reason.
 */
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { POOL_BOUND_MIN_BYTES } from '../../src/backend/webgpu/buffer-pool.js';
import { webgpuForTests } from '../setup-backend.js';

const why = await webgpuForTests();
const title = (name: string): string => (why ? `${name} (skipped: ${why})` : name);
const gpuIt = (name: string, f: () => Promise<void>, timeout = 60_000) => it.skipIf(why !== null)(title(name), f, timeout);

interface Manager {
  numBytesAllocated: number;
  numBytesUsed: number;
}
interface Device {
  pushErrorScope(filter: string): void;
  popErrorScope(): Promise<{ message: string } | null>;
}
const backend = () => tf.backend() as unknown as { bufferManager: Manager; device: Device };

/** A float32 tensor of n elements made on the device (an op's output: a pooled storage buffer). */
const made = (n: number, v: number): tf.Tensor => tf.tidy(() => tf.add(tf.fill([n], v), 1));
/** Submit what is encoded (a read waits for it). */
async function submit(): Promise<void> {
  const t = made(1, 0);
  await t.data();
  t.dispose();
}

describe('webgpu buffer pool bound', () => {
  gpuIt('a large buffer of a new size takes the place of freed ones of other sizes; values and validation stay right', async () => {
    const m = backend().bufferManager;
    const { device } = backend();
    const tensors = tf.memory().numTensors;
    device.pushErrorScope('validation');
    const n = (4 * POOL_BOUND_MIN_BYTES) / 4; // elements of a 256 KiB buffer
    // Warm the pool with one freed buffer of each of several large sizes.
    for (let k = 1; k <= 4; k++) {
      const t = made(n * k, k);
      await t.data(); // submitted
      t.dispose();
    }
    await submit(); // the disposals are done
    const allocated = m.numBytesAllocated;
    // New sizes, one at a time: each finds no free buffer of its size and takes freed memory instead.
    for (const k of [1.5, 2.5, 3.5]) {
      const t = made(Math.round(n * k), k);
      const v = await t.data();
      expect(v.every((x) => x === k + 1)).toBe(true);
      t.dispose();
    }
    await submit();
    // tfjs would hold the three new sizes on top of the four old ones; bounded, the pool is no larger
    // than before (a buffer of a new size replaces freed ones worth at least its size).
    expect(m.numBytesAllocated).toBeLessThanOrEqual(allocated);
    expect(await device.popErrorScope()).toBeNull();
    expect(tf.memory().numTensors).toBe(tensors);
  });

  gpuIt('small buffers keep exact-size reuse: a new small size gives none of them back', async () => {
    const m = backend().bufferManager;
    const small = POOL_BOUND_MIN_BYTES / 16; // elements of a 16 KiB buffer
    const a = made(small, 1);
    await a.data();
    a.dispose();
    const b = made(small + 4, 2);
    expect((await b.data())[0]).toBe(3);
    b.dispose();
    await submit();
    // a's buffers are still pooled: the same size again needs no new one.
    const allocated = m.numBytesAllocated;
    const c = made(small, 3);
    expect((await c.data())[0]).toBe(4);
    expect(m.numBytesAllocated).toBe(allocated);
    c.dispose();
  });
});
