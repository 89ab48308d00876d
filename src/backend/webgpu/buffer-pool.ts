/**
 * A bound on tfjs-backend-webgpu's pool of freed buffers. tfjs 4.22 (buffer_manager.js) keeps
 * every freed buffer for a later request of exactly its size and usage and never lets one go,
 * so the device ends up holding, for every size, as many buffers as were ever live at once,
 * whether or not those moments coincide. A training iteration makes buffers of hundreds of
 * sizes whose peaks fall at different times: the pool grows far above the most bytes live at
 * any moment (README, Memory).
 *
 * Here a request for a large buffer that finds no free one of its size first gives back free
 * large buffers (the largest first) worth its size: the pool grows only where the bytes in use
 * do. The buffers are destroyed at the next submit, not at once: a buffer tfjs has freed may
 * still be bound in the commands encoded since the last submit (destroying it there fails the
 * submit). Small buffers (parameter-sized and below) keep tfjs's exact-size reuse: they are
 * most of the requests and little of the memory.
 */
import type { GPUBufferLike } from './runner.js';

/** Buffers below this many bytes are pooled as tfjs pools them. */
export const POOL_BOUND_MIN_BYTES = 1 << 16;

/** The parts of tfjs-backend-webgpu 4.22's BufferManager and WebGPUBackend the bound changes. */
interface PooledBuffer extends GPUBufferLike {
  destroy(): void;
}
interface BufferManagerInternals {
  freeBuffers: Map<string, PooledBuffer[]>;
  numFreeBuffers: number;
  numBytesAllocated: number;
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): PooledBuffer;
}
interface BackendInternals {
  bufferManager: BufferManagerInternals;
  submitQueue(): void;
}

const bound = new WeakSet<object>();

/** Bound the pool of `backend` (a tfjs WebGPUBackend); once per backend. */
export function boundBufferPool(backend: unknown): void {
  const b = backend as BackendInternals;
  if (bound.has(b) || typeof b.bufferManager?.acquireBuffer !== 'function' || !(b.bufferManager.freeBuffers instanceof Map)) return;
  bound.add(b);
  const m = b.bufferManager;
  let doomed: PooledBuffer[] = [];
  const acquire = m.acquireBuffer.bind(m);
  m.acquireBuffer = (size, usage, mappedAtCreation = false, reuse = true) => {
    // tfjs's key for a buffer (getBufferKey in buffer_manager.js).
    if (reuse && !mappedAtCreation && size >= POOL_BOUND_MIN_BYTES && !m.freeBuffers.get(`${size}_${usage}`)?.length) {
      const large: Array<[PooledBuffer[], PooledBuffer]> = [];
      for (const list of m.freeBuffers.values()) for (const buf of list) if (buf.size >= POOL_BOUND_MIN_BYTES) large.push([list, buf]);
      large.sort((p, q) => q[1].size - p[1].size);
      let freed = 0;
      for (const [list, buf] of large) {
        if (freed >= size) break;
        list.splice(list.indexOf(buf), 1);
        m.numFreeBuffers--;
        m.numBytesAllocated -= buf.size;
        freed += buf.size;
        doomed.push(buf);
      }
    }
    return acquire(size, usage, mappedAtCreation, reuse);
  };
  const submit = b.submitQueue.bind(b);
  b.submitQueue = () => {
    submit();
    for (const buf of doomed) buf.destroy();
    doomed = [];
  };
}
