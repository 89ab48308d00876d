/**
 * The native backend's reuse of output buffers (src/backend/native-memory.ts):
 * a disposed kernel output is handed to the next kernel of the same size, and
 * never while something can still see it (a zero-copy view, an array read out
 * with dataSync, the caller's own array behind tf.tensor).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import '@tensorflow/tfjs-backend-cpu';
import { tf } from '../../src/tf.js';
import { nativeAvailable, registerNativeBackend } from '../../src/backend/native.js';
import { BufferPool, poolEnabled, poolOf } from '../../src/backend/native-memory.js';

const available = nativeAvailable() && poolEnabled();
if (!available) console.warn('[native-memory.test] SKIPPED: the native addon is not built, or ALAE_NATIVE_POOL=0');

/** The array behind a tensor, read without marking it as handed out. */
const storage = (t: tf.Tensor): Float32Array => (tf.backend() as unknown as { data: { get(id: object): { values: Float32Array } } }).data.get(t.dataId).values;

describe.skipIf(!available)('native buffer pool', () => {
  let prev = '';
  beforeAll(async () => {
    await registerNativeBackend();
    prev = tf.getBackend();
    tf.setBackend('native');
  });
  afterAll(() => {
    if (prev) tf.setBackend(prev);
  });

  const pool = (): BufferPool => poolOf(tf.backend());
  const ones = (n: number) => tf.tensor1d(new Float32Array(n).fill(1));

  it('gives a disposed output buffer to the next output of the same size', () => {
    const a = ones(1000), b = ones(1000);
    const x = tf.add(a, b);
    const buf = storage(x);
    x.dispose();
    const reused = pool().stats.reused;
    const y = tf.mul(a, b);
    expect(pool().stats.reused).toBe(reused + 1);
    expect(storage(y)).toBe(buf);
    expect(Array.from(y.dataSync().slice(0, 3))).toEqual([1, 1, 1]);
    tf.dispose([a, b, y]);
  });

  it('never reuses an array read out with dataSync', () => {
    const a = ones(1001), b = ones(1001);
    const x = tf.add(a, b);
    const seen = x.dataSync();
    x.dispose();
    const y = tf.mul(a, 3); // would land in x's buffer
    expect(storage(y)).not.toBe(seen);
    expect(seen[0]).toBe(2);
    tf.dispose([a, b, y]);
  });

  it('keeps a buffer while a zero-copy view of it lives', () => {
    const a = ones(1002), b = ones(1002);
    const x = tf.add(a, b);
    const head = tf.slice(x, [0], [500]); // contiguous: the cpu kernel's view of x's buffer
    expect(storage(head).buffer).toBe(storage(x).buffer);
    x.dispose();
    const y = tf.mul(a, tf.scalar(5));
    expect(storage(y).buffer).not.toBe(storage(head).buffer);
    expect(head.dataSync()[0]).toBe(2);
    tf.dispose([a, b, y, head]);
  });

  it('never pools the caller\'s array behind tf.tensor', () => {
    const mine = new Float32Array(1003).fill(7);
    const t = tf.tensor1d(mine);
    t.dispose();
    const y = tf.add(ones(1003), ones(1003));
    expect(storage(y)).not.toBe(mine);
    expect(mine[0]).toBe(7);
    y.dispose();
  });

  it('lets its buffers go once no kernel has allocated for a while', () => {
    vi.useFakeTimers();
    try {
      const own = new BufferPool();
      const a = own.floats(64);
      own.retain(a);
      own.release(a);
      expect(own.freeBytes()).toBe(256);
      vi.advanceTimersByTime(4000);
      own.retain(own.floats(64)); // an allocation within the interval keeps the pool
      const b = own.floats(32);
      own.retain(b);
      own.release(b);
      vi.advanceTimersByTime(4000);
      expect(own.freeBytes()).toBeGreaterThan(0);
      vi.advanceTimersByTime(10000);
      expect(own.freeBytes()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('leaves no tensors behind and keeps results right across reuse', () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 8 * 8 * 4 }, (_, i) => Math.sin(i)), [2, 8, 8, 4]);
    const w = tf.tensor4d(Float32Array.from({ length: 3 * 3 * 4 * 4 }, (_, i) => Math.cos(i)), [3, 3, 4, 4]);
    // The conv output is an intermediate: disposed by tidy, its buffer serves the next round's conv.
    const run = () => tf.tidy(() => tf.add(tf.conv2d(x, w, 1, 'same'), 1).dataSync().slice());
    const first = run();
    const reused = pool().stats.reused;
    for (let i = 0; i < 3; i++) expect(run()).toEqual(first);
    expect(pool().stats.reused).toBeGreaterThanOrEqual(reused + 3);
    tf.dispose([x, w]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
