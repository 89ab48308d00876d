/**
 * The native backend's forward of the twice-differentiable leaky ReLU
 * (leakyTwice in nn/ops.ts, native/kernels/leaky_twice.cc): the value
 * 0.2 x + 0.8 relu(x) and the gradient mask step(x, 0.2) in one pass, with
 * the op chain's roundings. Registered by kernel-adapter.ts
 * (ALAE_NATIVE_FUSED=0 switches it off).
 */
import { LEAKY_TWICE } from '../nn/ops.js';
import { type CpuBackend, type KernelFn, values } from './native-fused.js';
import { poolOf } from './native-memory.js';

/** The addon's entry point (native/kernels/leaky_twice.cc). */
export interface LeakyTwiceAddon {
  leakyTwice(x: Float32Array, value: Float32Array, mask: Float32Array): void;
}

const hasLeakyTwice = (addon: object): addon is LeakyTwiceAddon => typeof (addon as Partial<LeakyTwiceAddon>).leakyTwice === 'function';

/** The kernel, or null when the addon build predates it. */
export function nativeLeakyTwice(addon: object): KernelFn | null {
  if (!hasLeakyTwice(addon)) return null;
  const n = addon;
  return ({ inputs, backend }) => {
    const b = backend as CpuBackend;
    const x = values<Float32Array>(b, inputs.x, LEAKY_TWICE, 'x', 'float32');
    const value = poolOf(b).floats(x.length), mask = poolOf(b).floats(x.length);
    n.leakyTwice(x, value, mask);
    return [b.makeTensorInfo(inputs.x!.shape, 'float32', value), b.makeTensorInfo(inputs.x!.shape, 'float32', mask)];
  };
}
