/**
 * Reuse of output buffers on the `native` backend. tfjs's cpu backend gives
 * every kernel output a fresh typed array and leaves the old ones to V8's
 * garbage collector; a fresh array of more than a few MB is a fresh mmap whose
 * pages the kernel faults in (and zeroes) on first touch, which on a virtual
 * machine costs far more than the kernel's own pass over the memory. Here the
 * arrays of disposed tensors go back to a pool, by length, and the native
 * kernels take their outputs from it: the same pages are written again.
 *
 * A buffer is reused only when no live tensor can see it and nothing outside
 * the backend was given it: every data entry holding a view of a pooled
 * ArrayBuffer counts as a reference (cpu's zero-copy slices share buffers),
 * and a buffer read out through readSync / read (dataSync(), data(),
 * arraySync(), a kernel's bufferSync) is never reused, since the reader may
 * keep the array after the tensor is disposed. Arrays the backend did not
 * allocate (tf.tensor(values) keeps the caller's array) are never pooled.
 *
 * Buffers released but not taken again within RETIRE_AFTER allocations are
 * dropped (left to the garbage collector), so a size used once does not stay
 * pinned, and so is the whole pool once no kernel has allocated for IDLE_MS
 * (a training run over: its working set is not kept for the rest of the
 * process). ALAE_NATIVE_POOL=0 turns the pool off (every output is a fresh
 * array, as on the cpu backend).
 */
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { tf } from '../tf.js';

type Pooled = Float32Array | Uint8Array;

interface Owner {
  base: Pooled;
  /** Data entries of the backend that hold a view of the buffer. */
  refs: number;
  /** Read out of the backend: never reused. */
  escaped: boolean;
}

/** Allocations a released buffer may wait for a taker before it is dropped. */
const RETIRE_AFTER = 1 << 16;
/** Without an allocation for this long, the pool lets everything go. */
const IDLE_MS = 5000;

export class BufferPool {
  private readonly owners = new WeakMap<ArrayBufferLike, Owner>();
  private readonly free = new Map<string, { a: Pooled; at: number }[]>();
  private tick = 0;
  private lastSweep = 0;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  /** Buffers handed out: fresh (allocated) and reused. */
  readonly stats = { fresh: 0, reused: 0, freshBytes: 0 };

  constructor(readonly enabled = true) {}

  /** A Float32Array of n elements; its contents are undefined (a reused buffer is not cleared). */
  floats(n: number): Float32Array {
    return this.take('f', n, () => new Float32Array(n)) as Float32Array;
  }

  /** A Uint8Array of n elements (bool tensors); contents undefined. */
  bytes(n: number): Uint8Array {
    return this.take('u', n, () => new Uint8Array(n)) as Uint8Array;
  }

  private take(kind: string, n: number, make: () => Pooled): Pooled {
    if (!this.enabled || n === 0) return make();
    this.tick++;
    if (this.tick - this.lastSweep >= RETIRE_AFTER) this.sweep();
    const got = this.free.get(kind + n)?.pop();
    if (got) {
      this.stats.reused++;
      return got.a;
    }
    const a = make();
    this.owners.set(a.buffer, { base: a, refs: 0, escaped: false });
    this.stats.fresh++;
    this.stats.freshBytes += a.byteLength;
    return a;
  }

  /** A data entry now holds `values`. */
  retain(values: unknown): void {
    const o = this.owner(values);
    if (o) o.refs++;
  }

  /** A data entry holding `values` was deleted: the buffer is free once no entry holds it. */
  release(values: unknown): void {
    const o = this.owner(values);
    if (!o || --o.refs > 0 || o.escaped) return;
    const key = (o.base instanceof Float32Array ? 'f' : 'u') + o.base.length;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push({ a: o.base, at: this.tick });
    this.watchIdle();
  }

  /** `values` left the backend (readSync): never reuse its buffer. */
  escape(values: unknown): void {
    const o = this.owner(values);
    if (o) o.escaped = true;
  }

  /** Bytes waiting in the pool. */
  freeBytes(): number {
    let b = 0;
    for (const list of this.free.values()) for (const e of list) b += e.a.byteLength;
    return b;
  }

  private owner(values: unknown): Owner | undefined {
    if (!ArrayBuffer.isView(values)) return undefined;
    return this.owners.get(values.buffer);
  }

  /** Drops every waiting buffer once IDLE_MS pass without an allocation (the timer does not keep the process alive). */
  private watchIdle(): void {
    if (this.idleTimer) return;
    const at = this.tick;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.tick === at) this.free.clear();
      else if (this.free.size > 0) this.watchIdle();
    }, IDLE_MS);
    this.idleTimer.unref?.();
  }

  private sweep(): void {
    this.lastSweep = this.tick;
    for (const [key, list] of this.free) {
      const keep = list.filter((e) => this.tick - e.at < RETIRE_AFTER);
      if (keep.length === 0) this.free.delete(key);
      else if (keep.length < list.length) this.free.set(key, keep);
    }
  }
}

/** The backend's pool, for kernels: a backend without one gets fresh arrays. */
export function poolOf(backend: unknown): BufferPool {
  return (backend as { pool?: BufferPool }).pool ?? FRESH;
}
const FRESH = new BufferPool(false);

/** Is the pool on (ALAE_NATIVE_POOL is not '0')? */
export const poolEnabled = (): boolean => process.env.ALAE_NATIVE_POOL !== '0';

type CpuClass = typeof MathBackendCPU;

/** MathBackendCPU whose data entries feed a BufferPool (see the file comment). */
export function pooledCpuBackend(Base: CpuClass, pool: BufferPool): MathBackendCPU {
  class PooledBackend extends Base {
    readonly pool = pool;

    override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): tf.DataId {
      const id = super.write(values, shape, dtype);
      pool.retain(values);
      return id;
    }

    override move(dataId: tf.DataId, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
      super.move(dataId, values, shape, dtype, refCount);
      pool.retain(values);
    }

    override disposeData(dataId: tf.DataId, force = false): boolean {
      const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
      const deleted = super.disposeData(dataId, force);
      if (deleted && values !== undefined && !this.data.has(dataId)) pool.release(values);
      return deleted;
    }

    override readSync(dataId: tf.DataId): tf.backend_util.BackendValues {
      const values = super.readSync(dataId);
      pool.escape(values);
      return values;
    }
  }
  return new PooledBackend();
}
