/**
 * The native backend's twice-differentiable leaky ReLU (leakyTwice in
 * nn/ops.ts, native/kernels/leaky_twice.cc): the forward's value
 * 0.2 x + 0.8 relu(x) in one pass, with the op chain's roundings, and the
 * gradient dy * step(y, 0.2), the mask read off the value y, in one pass.
 * Registered by kernel-adapter.ts (ALAE_NATIVE_FUSED=0 switches them off).
 */
import { LEAKY_GRAD, LEAKY_TWICE } from '../nn/ops.js';
import { type CpuBackend, type KernelFn, values } from './native-fused.js';
import { poolOf } from './native-memory.js';

/** The addon's entry points (native/kernels/leaky_twice.cc). */
export interface LeakyAddon {
  leakyForward(x: Float32Array, value: Float32Array): void;
  leakyGrad(dy: Float32Array, y: Float32Array, dx: Float32Array): void;
}

const hasLeaky = (addon: object): addon is LeakyAddon =>
  typeof (addon as Partial<LeakyAddon>).leakyForward === 'function' && typeof (addon as Partial<LeakyAddon>).leakyGrad === 'function';

/** The forward kernel, or null when the addon build predates it. */
export function nativeLeakyTwice(addon: object): KernelFn | null {
  if (!hasLeaky(addon)) return null;
  const n = addon;
  return ({ inputs, backend }) => {
    const b = backend as CpuBackend;
    const x = values<Float32Array>(b, inputs.x, LEAKY_TWICE, 'x', 'float32');
    const value = poolOf(b).floats(x.length);
    n.leakyForward(x, value);
    return b.makeTensorInfo(inputs.x!.shape, 'float32', value);
  };
}

/** The gradient kernel, or null when the addon build predates it. */
export function nativeLeakyGrad(addon: object): KernelFn | null {
  if (!hasLeaky(addon)) return null;
  const n = addon;
  return ({ inputs, backend }) => {
    const b = backend as CpuBackend;
    const dy = values<Float32Array>(b, inputs.dy, LEAKY_GRAD, 'dy', 'float32');
    const y = values<Float32Array>(b, inputs.y, LEAKY_GRAD, 'y', 'float32');
    if (y.length !== dy.length) throw new Error(`${LEAKY_GRAD}: dy [${inputs.dy!.shape}] and y [${inputs.y!.shape}] must have one shape`);
    const dx = poolOf(b).floats(dy.length);
    n.leakyGrad(dy, y, dx);
    return b.makeTensorInfo(inputs.dy!.shape, 'float32', dx);
  };
}
