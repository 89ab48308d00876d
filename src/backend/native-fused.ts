/**
 * What the native backend's fused kernels (native-style-epilogue.ts,
 * native-instance-stats.ts, native-leaky-twice.ts) share: the view of the cpu
 * backend they run on and reading a tensor's values for the addon. They are
 * declared and registered (or switched off) in kernel-adapter.ts.
 */
import type { tf } from '../tf.js';
import type { TensorInfo } from './kernel-adapter.js';

export type { KernelFn, TensorInfo } from './kernel-adapter.js';

/** The parts of tfjs's MathBackendCPU a fused kernel uses. */
export interface CpuBackend {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array | Uint8Array): TensorInfo;
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((s, d) => s * d, 1);

/** The values of a float32 (or bool) tensor as the typed array the addon takes; `kernel` and `name` go in the error. */
export function values<T extends Float32Array | Uint8Array>(backend: CpuBackend, t: TensorInfo | undefined, kernel: string, name: string,
  dtype: 'float32' | 'bool'): T {
  if (!t || t.dtype !== dtype) throw new Error(`${kernel}: ${name} must be a ${dtype} tensor`);
  const v = backend.data.get(t.dataId).values;
  if (dtype === 'float32') return (v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>)) as T;
  return (v instanceof Uint8Array ? v : Uint8Array.from(v as ArrayLike<number>)) as T;
}
