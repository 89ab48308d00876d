/**
 * The native backend's fused encoder statistics (nn/instance-stats.ts,
 * native/kernels/instance_stats.cc): mean, std and instance norm in one kernel, the
 * gradient in another. Float32 NHWC only; stats [N, 2C] hold each sample's
 * means, then its stds, as the addon writes them.
 * Registered by kernel-adapter.ts (ALAE_NATIVE_FUSED=0 switches it off).
 */
import { INSTANCE_STATS, INSTANCE_STATS_GRAD } from '../nn/instance-stats.js';
import { type CpuBackend, type KernelFn, type TensorInfo, sizeOf, values } from './native-fused.js';
import { hasAbi, type NativeAbi, packParams } from './native-abi.js';
import { poolOf } from './native-memory.js';

/** The addon's entry points (native/bindings/fused.cc). params: layouts.instanceStats. */
export interface InstanceStatsAddon extends NativeAbi {
  instanceStats(x: Float32Array, normed: Float32Array, stats: Float32Array, params: Int32Array, eps: number): void;
  instanceStatsGrad(dnormed: Float32Array, dstats: Float32Array, normed: Float32Array, stats: Float32Array,
    dx: Float32Array, params: Int32Array, eps: number): void;
}

function hasInstanceStats(addon: object): addon is InstanceStatsAddon {
  const a = addon as Partial<InstanceStatsAddon>;
  return hasAbi(addon) && typeof a.instanceStats === 'function' && typeof a.instanceStatsGrad === 'function';
}

/** The params of an NHWC tensor, checked; `stats` tensors must be [N, 2C]. */
function params(abi: NativeAbi, kernel: string, x: TensorInfo | undefined, ...stats: (TensorInfo | undefined)[]): Int32Array {
  if (!x || x.shape.length !== 4) throw new Error(`${kernel}: expected an NHWC tensor, got [${x?.shape ?? ''}]`);
  const [n, h, w, c] = x.shape;
  for (const s of stats) {
    if (!s || s.shape.join() !== `${n},${2 * c}`) throw new Error(`${kernel}: statistics [${s?.shape ?? ''}] do not fit [${x.shape}] (want [${n},${2 * c}])`);
  }
  return packParams(abi, 'instanceStats', { N: n, HW: h * w, C: c });
}

const f32 = (b: CpuBackend, kernel: string, t: TensorInfo | undefined, name: string): Float32Array => values<Float32Array>(b, t, kernel, name, 'float32');

/** The forward kernel, or null when the addon build predates it. */
export function nativeInstanceStats(addon: object): KernelFn | null {
  if (!hasInstanceStats(addon)) return null;
  const n = addon;
  return ({ inputs, backend, attrs }) => {
    const b = backend as CpuBackend;
    const { x } = inputs;
    const p = params(n, INSTANCE_STATS, x);
    const [N, , , C] = x!.shape;
    const normed = poolOf(b).floats(sizeOf(x!.shape)), stats = poolOf(b).floats(2 * N * C);
    n.instanceStats(f32(b, INSTANCE_STATS, x, 'x'), normed, stats, p, Number(attrs?.eps));
    return [b.makeTensorInfo(x!.shape, 'float32', normed), b.makeTensorInfo([N, 2 * C], 'float32', stats)];
  };
}

/** The gradient kernel, or null when the addon build predates it. */
export function nativeInstanceStatsGrad(addon: object): KernelFn | null {
  if (!hasInstanceStats(addon)) return null;
  const n = addon;
  return ({ inputs, backend, attrs }) => {
    const b = backend as CpuBackend;
    const { dnormed, dstats, normed, stats } = inputs;
    const p = params(n, INSTANCE_STATS_GRAD, dnormed, dstats, stats);
    if (normed?.shape.join() !== dnormed!.shape.join()) throw new Error(`${INSTANCE_STATS_GRAD}: normed [${normed?.shape ?? ''}] is not [${dnormed!.shape}]`);
    const dx = poolOf(b).floats(sizeOf(dnormed!.shape));
    const g = (t: TensorInfo | undefined, name: string) => f32(b, INSTANCE_STATS_GRAD, t, name);
    n.instanceStatsGrad(g(dnormed, 'dnormed'), g(dstats, 'dstats'), g(normed, 'normed'), g(stats, 'stats'), dx, p, Number(attrs?.eps));
    return b.makeTensorInfo(dnormed!.shape, 'float32', dx);
  };
}
