/**
 * What the native backend's fused kernels (native-style-epilogue.ts,
 * native-instance-stats.ts, native-leaky-twice.ts) share: the view of the cpu backend they run on,
 * the kernel signature, reading a tensor's values for the addon, and the
 * switch that turns them off (ALAE_NATIVE_FUSED=0: the op chains run instead,
 * for A/B comparisons and bisecting a numerical difference).
 */
import { tf } from '../tf.js';

export type TensorInfo = tf.TensorInfo;

/** The parts of tfjs's MathBackendCPU a fused kernel uses. */
export interface CpuBackend {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array | Uint8Array): TensorInfo;
}

export interface KernelArgs {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}
export type KernelFn = (args: KernelArgs) => TensorInfo | TensorInfo[];

/** Are the fused kernels switched off (ALAE_NATIVE_FUSED=0)? */
export const fusedDisabled = (): boolean => process.env.ALAE_NATIVE_FUSED === '0';

export const sizeOf = (shape: readonly number[]): number => shape.reduce((s, d) => s * d, 1);

/** The values of a float32 (or bool) tensor as the typed array the addon takes; `kernel` and `name` go in the error. */
export function values<T extends Float32Array | Uint8Array>(backend: CpuBackend, t: TensorInfo | undefined, kernel: string, name: string,
  dtype: 'float32' | 'bool'): T {
  if (!t || t.dtype !== dtype) throw new Error(`${kernel}: ${name} must be a ${dtype} tensor`);
  const v = backend.data.get(t.dataId).values;
  if (dtype === 'float32') return (v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>)) as T;
  return (v instanceof Uint8Array ? v : Uint8Array.from(v as ArrayLike<number>)) as T;
}
