/**
 * The native backend's fused encoder statistics (nn/instance-stats.ts,
 * native/instance_stats.cc): mean, std and instance norm in one kernel, the
 * gradient in another. Float32 NHWC only. Registered by kernel-adapter.ts
 * (ALAE_NATIVE_FUSED=0 switches it off).
 */
import { INSTANCE_STATS, INSTANCE_STATS_GRAD } from '../nn/instance-stats.js';
import { type CpuBackend, type KernelFn, type TensorInfo, sizeOf, values } from './native-fused.js';

/** The addon's entry points (native/instance_stats.cc). params: [N, H*W, C]. */
export interface InstanceStatsAddon {
  instanceStats(x: Float32Array, normed: Float32Array, mean: Float32Array, std: Float32Array, params: Int32Array, eps: number): void;
  instanceStatsGrad(dnormed: Float32Array, dmean: Float32Array, dstd: Float32Array, normed: Float32Array, std: Float32Array,
    dx: Float32Array, params: Int32Array, eps: number): void;
}

function hasInstanceStats(addon: object): addon is InstanceStatsAddon {
  const a = addon as Partial<InstanceStatsAddon>;
  return typeof a.instanceStats === 'function' && typeof a.instanceStatsGrad === 'function';
}

/** [N, H*W, C] of an NHWC tensor, checked; `stats` tensors must be [N, 1, 1, C]. */
function params(kernel: string, x: TensorInfo | undefined, ...stats: (TensorInfo | undefined)[]): Int32Array {
  if (!x || x.shape.length !== 4) throw new Error(`${kernel}: expected an NHWC tensor, got [${x?.shape ?? ''}]`);
  const [n, h, w, c] = x.shape;
  for (const s of stats) {
    if (!s || s.shape.join() !== `${n},1,1,${c}`) throw new Error(`${kernel}: statistics [${s?.shape ?? ''}] do not fit [${x.shape}] (want [${n},1,1,${c}])`);
  }
  return Int32Array.from([n, h * w, c]);
}

const f32 = (b: CpuBackend, kernel: string, t: TensorInfo | undefined, name: string): Float32Array => values<Float32Array>(b, t, kernel, name, 'float32');

/** The forward kernel, or null when the addon build predates it. */
export function nativeInstanceStats(addon: object): KernelFn | null {
  if (!hasInstanceStats(addon)) return null;
  const n = addon;
  return ({ inputs, backend, attrs }) => {
    const b = backend as CpuBackend;
    const { x } = inputs;
    const p = params(INSTANCE_STATS, x);
    const [N, , , C] = x!.shape;
    const normed = new Float32Array(sizeOf(x!.shape)), mean = new Float32Array(N * C), std = new Float32Array(N * C);
    n.instanceStats(f32(b, INSTANCE_STATS, x, 'x'), normed, mean, std, p, Number(attrs?.eps));
    return [
      b.makeTensorInfo(x!.shape, 'float32', normed),
      b.makeTensorInfo([N, 1, 1, C], 'float32', mean),
      b.makeTensorInfo([N, 1, 1, C], 'float32', std),
    ];
  };
}

/** The gradient kernel, or null when the addon build predates it. */
export function nativeInstanceStatsGrad(addon: object): KernelFn | null {
  if (!hasInstanceStats(addon)) return null;
  const n = addon;
  return ({ inputs, backend, attrs }) => {
    const b = backend as CpuBackend;
    const { dnormed, dmean, dstd, normed, std } = inputs;
    const p = params(INSTANCE_STATS_GRAD, dnormed, dmean, dstd, std);
    if (normed?.shape.join() !== dnormed!.shape.join()) throw new Error(`${INSTANCE_STATS_GRAD}: normed [${normed?.shape ?? ''}] is not [${dnormed!.shape}]`);
    const dx = new Float32Array(sizeOf(dnormed!.shape));
    const g = (t: TensorInfo | undefined, name: string) => f32(b, INSTANCE_STATS_GRAD, t, name);
    n.instanceStatsGrad(g(dnormed, 'dnormed'), g(dmean, 'dmean'), g(dstd, 'dstd'), g(normed, 'normed'), g(std, 'std'), dx, p, Number(attrs?.eps));
    return b.makeTensorInfo(dnormed!.shape, 'float32', dx);
  };
}
