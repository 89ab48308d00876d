/**
 * The native backend's fused generator epilogue (nn/style-epilogue.ts,
 * native/kernels/style_epilogue.cc): one kernel forward, one backward, in place of
 * the ~12 / ~25 activation-sized tfjs kernels of the op chain. Float32 NHWC
 * only; anything else throws (the op only dispatches here with float32).
 * The forward keeps normed, mask and sd for the gradient (saved0..2).
 * Registered by kernel-adapter.ts (ALAE_NATIVE_FUSED=0 switches it off).
 */
import { STYLE_EPILOGUE } from '../nn/style-epilogue.js';
import { type CpuBackend, type KernelFn, type TensorInfo, sizeOf, values as valuesOf } from './native-fused.js';
import { hasAbi, type NativeAbi, packParams } from './native-abi.js';
import { poolOf } from './native-memory.js';

const values = <T extends Float32Array | Uint8Array>(b: CpuBackend, t: TensorInfo | undefined, name: string, dtype: 'float32' | 'bool'): T =>
  valuesOf<T>(b, t, STYLE_EPILOGUE, name, dtype);

/** The addon's entry points (native/bindings/fused.cc). params: layouts.styleEpilogue. */
export interface StyleEpilogueAddon extends NativeAbi {
  styleEpilogue(x: Float32Array, noise: Float32Array, noiseWeight: Float32Array, bias: Float32Array, style: Float32Array,
    out: Float32Array, normed: Float32Array, mask: Uint8Array, sd: Float32Array, params: Int32Array, eps: number): void;
  styleEpilogueGrad(dy: Float32Array, normed: Float32Array, mask: Uint8Array, sd: Float32Array, style: Float32Array, noise: Float32Array,
    dx: Float32Array, dnoiseWeight: Float32Array, dbias: Float32Array, dstyle: Float32Array, params: Int32Array): void;
}

function hasStyleEpilogue(addon: object): addon is StyleEpilogueAddon {
  const a = addon as Partial<StyleEpilogueAddon>;
  return hasAbi(addon) && typeof a.styleEpilogue === 'function' && typeof a.styleEpilogueGrad === 'function';
}

/** The params of x [N,H,W,C] and noise [1 or N, H, W, 1], checked. */
function params(abi: NativeAbi, x: TensorInfo, noise: TensorInfo): Int32Array {
  const [n, h, w, c] = x.shape;
  const [nb, nh, nw, nc] = noise.shape;
  if (x.shape.length !== 4 || noise.shape.length !== 4 || nh !== h || nw !== w || nc !== 1 || (nb !== 1 && nb !== n)) {
    throw new Error(`${STYLE_EPILOGUE}: x [${x.shape}] and noise [${noise.shape}] do not match (noise is [1 or N, H, W, 1])`);
  }
  return packParams(abi, 'styleEpilogue', { N: n, H: h, W: w, C: c, noiseBatch: nb });
}

/** The forward kernel, or null when the addon build predates it. */
export function nativeStyleEpilogue(addon: object): KernelFn | null {
  if (!hasStyleEpilogue(addon)) return null;
  const n = addon;
  return ({ inputs, backend, attrs }) => {
    const b = backend as CpuBackend;
    const { x, noise, noiseWeight, bias, style } = inputs;
    const p = params(n, x!, noise!);
    const [N, , , C] = x!.shape;
    const size = sizeOf(x!.shape);
    if (sizeOf(noiseWeight!.shape) !== C || sizeOf(bias!.shape) !== C || style!.shape.join() !== `${N},${2 * C}`) {
      throw new Error(`${STYLE_EPILOGUE}: noise weight [${noiseWeight!.shape}], bias [${bias!.shape}] or style [${style!.shape}] do not fit x [${x!.shape}]`);
    }
    const pool = poolOf(b);
    const out = pool.floats(size), normed = pool.floats(size), mask = pool.bytes(size), sd = pool.floats(N * C);
    n.styleEpilogue(values(b, x, 'x', 'float32'), values(b, noise, 'noise', 'float32'), values(b, noiseWeight, 'noise weight', 'float32'),
      values(b, bias, 'bias', 'float32'), values(b, style, 'style', 'float32'), out, normed, mask, sd, p, Number(attrs?.eps));
    return [
      b.makeTensorInfo(x!.shape, 'float32', out),
      b.makeTensorInfo(x!.shape, 'float32', normed),
      b.makeTensorInfo(x!.shape, 'bool', mask),
      b.makeTensorInfo([N, C], 'float32', sd),
    ];
  };
}

/** The gradient kernel, or null when the addon build predates it. */
export function nativeStyleEpilogueGrad(addon: object): KernelFn | null {
  if (!hasStyleEpilogue(addon)) return null;
  const n = addon;
  return ({ inputs, backend }) => {
    const b = backend as CpuBackend;
    const { dy, saved0: normed, saved1: mask, saved2: sd, style, noise } = inputs;
    const p = params(n, dy!, noise!);
    const [N, , , C] = dy!.shape;
    const size = sizeOf(dy!.shape);
    const pool = poolOf(b);
    const dx = pool.floats(size), dnw = pool.floats(C), db = pool.floats(C), dstyle = pool.floats(N * 2 * C);
    n.styleEpilogueGrad(values(b, dy, 'dy', 'float32'), values(b, normed, 'normed', 'float32'), values(b, mask, 'mask', 'bool'),
      values(b, sd, 'sd', 'float32'), values(b, style, 'style', 'float32'), values(b, noise, 'noise', 'float32'), dx, dnw, db, dstyle, p);
    return [
      b.makeTensorInfo(dy!.shape, 'float32', dx),
      b.makeTensorInfo([C], 'float32', dnw),
      b.makeTensorInfo([C], 'float32', db),
      b.makeTensorInfo([N, 2 * C], 'float32', dstyle),
    ];
  };
}
