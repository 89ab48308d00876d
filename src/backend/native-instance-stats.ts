/**
 * The native backend's fused encoder statistics (nn/instance-stats.ts,
 * native/instance_stats.cc): mean, std and instance norm in one kernel, the
 * gradient in another. Float32 NHWC only. The addon keeps means and stds
 * apart; the kernels' stats [N, 2C] hold each sample's means, then its stds.
 * Registered by kernel-adapter.ts (ALAE_NATIVE_FUSED=0 switches it off).
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

/** [N, H*W, C] of an NHWC tensor, checked; `stats` tensors must be [N, 2C]. */
function params(kernel: string, x: TensorInfo | undefined, ...stats: (TensorInfo | undefined)[]): Int32Array {
  if (!x || x.shape.length !== 4) throw new Error(`${kernel}: expected an NHWC tensor, got [${x?.shape ?? ''}]`);
  const [n, h, w, c] = x.shape;
  for (const s of stats) {
    if (!s || s.shape.join() !== `${n},${2 * c}`) throw new Error(`${kernel}: statistics [${s?.shape ?? ''}] do not fit [${x.shape}] (want [${n},${2 * c}])`);
  }
  return Int32Array.from([n, h * w, c]);
}

/** The means and the stds of stats [N, 2C], each [N * C]. */
function split(stats: Float32Array, n: number, c: number): [Float32Array, Float32Array] {
  const mean = new Float32Array(n * c), std = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    mean.set(stats.subarray(2 * c * i, 2 * c * i + c), c * i);
    std.set(stats.subarray(2 * c * i + c, 2 * c * (i + 1)), c * i);
  }
  return [mean, std];
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
    const stats = new Float32Array(2 * N * C);
    for (let i = 0; i < N; i++) {
      stats.set(mean.subarray(C * i, C * (i + 1)), 2 * C * i);
      stats.set(std.subarray(C * i, C * (i + 1)), 2 * C * i + C);
    }
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
    const p = params(INSTANCE_STATS_GRAD, dnormed, dstats, stats);
    if (normed?.shape.join() !== dnormed!.shape.join()) throw new Error(`${INSTANCE_STATS_GRAD}: normed [${normed?.shape ?? ''}] is not [${dnormed!.shape}]`);
    const dx = new Float32Array(sizeOf(dnormed!.shape));
    const g = (t: TensorInfo | undefined, name: string) => f32(b, INSTANCE_STATS_GRAD, t, name);
    const [dmean, dstd] = split(g(dstats, 'dstats'), p[0], p[2]);
    const std = split(g(stats, 'stats'), p[0], p[2])[1];
    n.instanceStatsGrad(g(dnormed, 'dnormed'), dmean, dstd, g(normed, 'normed'), std, dx, p, Number(attrs?.eps));
    return b.makeTensorInfo(dnormed!.shape, 'float32', dx);
  };
}
