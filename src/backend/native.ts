/**
 * The `native` backend: tfjs's cpu backend (MathBackendCPU, every cpu kernel)
 * with the heavy kernels (Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter,
 * BatchMatMul, FusedConv2D, _FusedMatMul) replaced by a C++ addon
 * (native/: packed, cache-blocked SGEMM with AVX-512, AVX2 and portable
 * micro-kernels picked at load, multi-threaded; convolutions as
 * implicit-im2col GEMMs; native/README.md).
 *
 * Gradients are registered per kernel name, not per backend, so autodiff
 * (double backprop included) works unchanged: the gradient of Conv2D runs
 * Conv2DBackpropInput/Filter, which are native here too.
 *
 * The addon is built by `node-gyp rebuild -C native` (npm runs it on
 * install); it needs g++ (or clang), make and python3. Threads: all
 * available cores, or ALAE_THREADS.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../tf.js';
import { type NativeAbi, packParams } from './native-abi.js';
import { nativeElementwiseKernels } from './native-elementwise.js';
import { BufferPool, poolEnabled, poolOf, pooledCpuBackend } from './native-memory.js';
import { registerCustomKernels } from './kernel-adapter.js';

type TensorInfo = tf.TensorInfo;
type NamedAttrMap = tf.NamedAttrMap;

/** The functions the addon exports (native/bindings/), with its op codes and params layouts. */
export interface NativeAddon extends NativeAbi {
  /** c[M,N] (+)= op(a) * op(b); op(a) is M x K (a stored K x M when transA). */
  gemm(a: Float32Array, b: Float32Array, c: Float32Array, M: number, N: number, K: number,
    transA: boolean, transB: boolean, accumulate: boolean): void;
  /** out[i] = op(a[aIdx[i]]) * op(b[bIdx[i]]), dense matrices back to back. */
  batchMatMul(a: Float32Array, b: Float32Array, out: Float32Array, aIdx: Int32Array, bIdx: Int32Array,
    batch: number, M: number, N: number, K: number, transA: boolean, transB: boolean): void;
  /** params: layouts.conv; precise: accumulate in double and round once (else float32). */
  conv2d(x: Float32Array, filter: Float32Array, y: Float32Array, params: Int32Array, precise: boolean): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, params: Int32Array): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, params: Int32Array): void;
  /** Threads in use and the SIMD path picked ('avx512', 'avx2' or 'generic'). */
  info(): { threads: number; simd: string };
  /** Use at most n threads (0: all the pool has). */
  setThreads(n: number): void;
  /** Force a SIMD path ('avx512', 'avx2', 'generic', 'auto'); false if unsupported here. */
  setSimd(name: string): boolean;
}

export const NATIVE_BACKEND_NAME = 'native';
const ADDON_FILE = 'alae_native.node';

const require = createRequire(import.meta.url);
/** The package root: this file is src/backend/native.ts or dist/backend/native.js. */
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where the addon may be, first match wins (ALAE_NATIVE_ADDON overrides). */
export function nativeAddonCandidates(): string[] {
  const list: string[] = [];
  if (process.env.ALAE_NATIVE_ADDON) list.push(path.resolve(process.env.ALAE_NATIVE_ADDON));
  list.push(
    path.join(packageRoot, 'native', 'build', 'Release', ADDON_FILE),
    path.join(packageRoot, 'build', 'Release', ADDON_FILE),
  );
  return list;
}

const BUILD_HELP = [
  'build it with `npm rebuild alae` (inside the alae checkout: `npm run build:native`, or `npx node-gyp rebuild -C native`)',
  'building needs a C++17 compiler (g++ or clang), make and python3; node-gyp uses the Node headers (npm config nodedir, or it downloads them)',
  'or choose another backend: --backend cpu|wasm (or ALAE_BACKEND)',
];

let addon: NativeAddon | null = null;
let loadError: Error | null = null;

/** Load the addon (once); throws an Error saying how to build it. */
export function loadNativeAddon(): NativeAddon {
  if (addon) return addon;
  if (loadError) throw loadError;
  const tried: string[] = [];
  for (const file of nativeAddonCandidates()) {
    if (!fs.existsSync(file)) {
      tried.push(`${file} (not built)`);
      continue;
    }
    try {
      addon = require(file) as NativeAddon;
      return addon;
    } catch (e) {
      tried.push(`${file} (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
    }
  }
  loadError = new Error(
    `the native addon (${ADDON_FILE}) could not be loaded: ${tried.join('; ')}\nTo fix:\n${BUILD_HELP.map((f) => `  - ${f}`).join('\n')}`,
  );
  throw loadError;
}

/** Is the addon built and loadable on this machine? */
export function nativeAvailable(): boolean {
  try {
    loadNativeAddon();
    return true;
  } catch {
    return false;
  }
}

/** The addon's thread count and SIMD path (null when it is not built). */
export function nativeInfo(): { threads: number; simd: string } | null {
  return nativeAvailable() ? loadNativeAddon().info() : null;
}

// ---------------------------------------------------------------------------
// Conv2D accumulation

/**
 * How Conv2D accumulates:
 * - 'auto' (the default): in double, rounded once, where a gradient tape is
 *   recording, float32 elsewhere. A leaky ReLU after a convolution is
 *   continuous, so the rounding of a forward value moves the value by an ulp;
 *   only the gradient mask, which autodiff takes from a taped forward, jumps
 *   when a pre-activation within the float32 error of zero changes sign
 *   (native/README.md, "Conv2D precision"). Untaped convolutions (inference,
 *   step 1's fake batch, the R1 term's second backward pass) take the float32
 *   GEMM, about twice as fast.
 * - 'fp64': double everywhere; 'fp32': float32 everywhere.
 * ALAE_NATIVE_CONV_ACCUM sets the starting mode.
 */
export type ConvAccumulation = 'auto' | 'fp64' | 'fp32';
const CONV_ACCUMULATIONS: readonly ConvAccumulation[] = ['auto', 'fp64', 'fp32'];

/** The mode an ALAE_NATIVE_CONV_ACCUM value names (unset or empty: 'auto'); throws on anything else. */
export function parseConvAccumulation(v: string | undefined): ConvAccumulation {
  if (v === undefined || v === '') return 'auto';
  if ((CONV_ACCUMULATIONS as readonly string[]).includes(v)) return v as ConvAccumulation;
  throw new Error(`ALAE_NATIVE_CONV_ACCUM=${v}: expected one of ${CONV_ACCUMULATIONS.join(', ')}`);
}

let convAccum: ConvAccumulation | null = null;

/** The Conv2D accumulation mode in force. */
export function convAccumulation(): ConvAccumulation {
  return (convAccum ??= parseConvAccumulation(process.env.ALAE_NATIVE_CONV_ACCUM));
}

/** Set the Conv2D accumulation mode; returns the previous one. */
export function setConvAccumulation(mode: ConvAccumulation): ConvAccumulation {
  if (!CONV_ACCUMULATIONS.includes(mode)) throw new Error(`conv accumulation '${String(mode)}': expected one of ${CONV_ACCUMULATIONS.join(', ')}`);
  const prev = convAccumulation();
  convAccum = mode;
  return prev;
}

/** Does the next Conv2D accumulate in double? (A kernel runs with the tape paused, so the engine's gradient depth tells.) */
function preciseConv(): boolean {
  const mode = convAccumulation();
  return mode === 'fp64' || (mode === 'auto' && tf.engine().state.gradientDepth > 0);
}

// ---------------------------------------------------------------------------
// kernels

/** The parts of MathBackendCPU the kernels use. */
interface CpuBackend {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): TensorInfo;
  disposeIntermediateTensorInfo(t: TensorInfo): void;
}

interface KernelArgs {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}
type KernelFn = (args: KernelArgs) => TensorInfo | TensorInfo[];

function f32(backend: CpuBackend, t: TensorInfo): Float32Array {
  const v = backend.data.get(t.dataId).values;
  if (v instanceof Float32Array) return v;
  return Float32Array.from(v as ArrayLike<number>);
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);
const allFloat = (...ts: (TensorInfo | undefined)[]): boolean => ts.every((t) => !t || t.dtype === 'float32');

function convParams(n: NativeAbi, ci: tf.backend_util.Conv2DInfo): Int32Array {
  return packParams(n, 'conv', {
    batch: ci.batchSize, inH: ci.inHeight, inW: ci.inWidth, inC: ci.inChannels,
    outH: ci.outHeight, outW: ci.outWidth, outC: ci.outChannels,
    kH: ci.filterHeight, kW: ci.filterWidth,
    strideH: ci.strideHeight, strideW: ci.strideWidth,
    dilH: ci.dilationHeight, dilW: ci.dilationWidth,
    padTop: ci.padInfo.top, padLeft: ci.padInfo.left,
  });
}

function cpuKernel(name: string): KernelFn {
  const k = tf.getKernel(name, 'cpu');
  if (!k) throw new Error(`tfjs cpu kernel '${name}' is not registered (is @tensorflow/tfjs-backend-cpu loaded?)`);
  return k.kernelFunc as unknown as KernelFn;
}

/**
 * The convolution and product kernels. `elementwise`: the native elementwise
 * kernels by name (nativeElementwiseKernels), which the fused kernels'
 * bias and activation use where they exist (else the cpu kernel).
 */
function makeKernels(n: NativeAddon, elementwise: Readonly<Record<string, KernelFn>> = {}) {
  const kernel = (name: string): KernelFn => elementwise[name] ?? cpuKernel(name);
  // The geometry of an NHWC convolution of float32 tensors, or null (not a case we handle: the caller falls back).
  // The gradients' attributes have no dilations: tfjs computes them at 1.
  function convInfo(xShape: number[], filterShape: number[], attrs: Omit<tf.Conv2DAttrs, 'dilations'> & Partial<tf.Conv2DAttrs>,
    ...tensors: TensorInfo[]): tf.backend_util.Conv2DInfo | null {
    if (attrs.dataFormat === 'NCHW' || !allFloat(...tensors) || xShape.length !== 4) return null;
    return tf.backend_util.computeConv2DInfo(
      xShape as [number, number, number, number], filterShape as [number, number, number, number],
      attrs.strides, attrs.dilations ?? 1, attrs.pad as 'valid' | 'same' | number, attrs.dimRoundingMode, false, 'channelsLast');
  }

  // Native Conv2D; null means "not a case we handle" (the caller falls back).
  function conv2d(backend: CpuBackend, x: TensorInfo, filter: TensorInfo, attrs: NamedAttrMap): TensorInfo | null {
    const ci = convInfo(x.shape, filter.shape, attrs as unknown as tf.Conv2DAttrs, x, filter);
    if (!ci) return null;
    const y = poolOf(backend).floats(sizeOf(ci.outShape));
    n.conv2d(f32(backend, x), f32(backend, filter), y, convParams(n, ci), preciseConv());
    return backend.makeTensorInfo(ci.outShape, 'float32', y);
  }

  function batchMatMul(backend: CpuBackend, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo | null {
    if (!allFloat(a, b) || a.shape.length < 2 || b.shape.length < 2) return null;
    const ar = a.shape.length, br = b.shape.length;
    const M = transposeA ? a.shape[ar - 1] : a.shape[ar - 2];
    const K = transposeA ? a.shape[ar - 2] : a.shape[ar - 1];
    const K2 = transposeB ? b.shape[br - 1] : b.shape[br - 2];
    const N = transposeB ? b.shape[br - 2] : b.shape[br - 1];
    if (K !== K2) {
      throw new Error(`Error in matMul: inner shapes (${K}) and (${K2}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
    }
    const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
    const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
    const batch = sizeOf(outer);
    const aIdx = new Int32Array(batch), bIdx = new Int32Array(batch);
    // Proper broadcasting of the batch dimensions (right-aligned, size-1 dims repeat).
    const rank = outer.length;
    const index = new Array<number>(rank).fill(0);
    for (let i = 0; i < batch; i++) {
      let ia = 0, ib = 0;
      for (let d = 0; d < rank; d++) {
        const da = d - (rank - outerA.length), db = d - (rank - outerB.length);
        if (da >= 0) ia = ia * outerA[da] + (outerA[da] === 1 ? 0 : index[d]);
        if (db >= 0) ib = ib * outerB[db] + (outerB[db] === 1 ? 0 : index[d]);
      }
      aIdx[i] = ia;
      bIdx[i] = ib;
      for (let d = rank - 1; d >= 0; d--) {
        if (++index[d] < outer[d]) break;
        index[d] = 0;
      }
    }
    const out = poolOf(backend).floats(batch * M * N);
    n.batchMatMul(f32(backend, a), f32(backend, b), out, aIdx, bIdx, batch, M, N, K, transposeA, transposeB);
    return backend.makeTensorInfo([...outer, M, N], 'float32', out);
  }

  // Bias and activation after a native product, as the cpu fused kernels do (each its own kernel: the same bits).
  function epilogue(backend: CpuBackend, result: TensorInfo, bias: TensorInfo | undefined, prelu: TensorInfo | undefined,
    activation: string | undefined, leakyreluAlpha: number | undefined): TensorInfo {
    let current = result;
    if (bias) {
      const next = kernel('Add')({ inputs: { a: current, b: bias }, backend }) as TensorInfo;
      backend.disposeIntermediateTensorInfo(current);
      current = next;
    }
    if (activation && activation !== 'linear') {
      const act: Record<string, () => TensorInfo> = {
        relu: () => kernel('Relu')({ inputs: { x: current }, backend }) as TensorInfo,
        relu6: () => kernel('Relu6')({ inputs: { x: current }, backend }) as TensorInfo,
        elu: () => kernel('Elu')({ inputs: { x: current }, backend }) as TensorInfo,
        sigmoid: () => kernel('Sigmoid')({ inputs: { x: current }, backend }) as TensorInfo,
        prelu: () => kernel('Prelu')({ inputs: { x: current, alpha: prelu }, backend }) as TensorInfo,
        leakyrelu: () => kernel('LeakyRelu')({ inputs: { x: current }, backend, attrs: { alpha: leakyreluAlpha ?? 0.2 } }) as TensorInfo,
      };
      const f = act[activation];
      if (!f) throw new Error(`Activation ${activation} has not been implemented for the native backend.`);
      const next = f();
      backend.disposeIntermediateTensorInfo(current);
      current = next;
    }
    return current;
  }

  // The two convolution gradients differ in their two inputs, where the geometry's shapes come from, the
  // result (dx or dw) and the call; dy must lie on the forward output's grid.
  type ConvGradAttrs = tf.Conv2DBackpropInputAttrs & tf.Conv2DBackpropFilterAttrs;
  const convGradient = (name: string, inputs: [string, string],
    geometry: (ins: Record<string, TensorInfo>, attrs: ConvGradAttrs) => [xShape: number[], filterShape: number[]],
    outShape: (ci: tf.backend_util.Conv2DInfo) => number[],
    call: (a: Float32Array, b: Float32Array, out: Float32Array, params: Int32Array) => void): KernelFn => (args) => {
    const backend = args.backend as CpuBackend;
    const ins = args.inputs as Record<string, TensorInfo>;
    const attrs = args.attrs as unknown as ConvGradAttrs;
    const a = ins[inputs[0]], b = ins[inputs[1]];
    const ci = convInfo(...geometry(ins, attrs), attrs, a, b);
    if (!ci || !sameShape(ins.dy.shape, ci.outShape)) return cpuKernel(name)(args);
    const out = poolOf(backend).floats(sizeOf(outShape(ci)));
    call(f32(backend, a), f32(backend, b), out, convParams(n, ci));
    return backend.makeTensorInfo(outShape(ci), 'float32', out);
  };

  const kernels: Record<string, KernelFn> = {
    Conv2D: (args) => {
      const backend = args.backend as CpuBackend;
      const { x, filter } = args.inputs;
      return conv2d(backend, x!, filter!, args.attrs ?? {}) ?? cpuKernel('Conv2D')(args);
    },

    Conv2DBackpropInput: convGradient('Conv2DBackpropInput', ['dy', 'filter'], ({ filter }, attrs) => [attrs.inputShape, filter.shape],
      (ci) => ci.inShape, (dy, w, dx, params) => n.conv2dBackpropInput(dy, w, dx, params)),

    Conv2DBackpropFilter: convGradient('Conv2DBackpropFilter', ['x', 'dy'], ({ x }, attrs) => [x.shape, attrs.filterShape],
      (ci) => ci.filterShape, (x, dy, dw, params) => n.conv2dBackpropFilter(x, dy, dw, params)),

    BatchMatMul: (args) => {
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
      return batchMatMul(args.backend as CpuBackend, a, b, !!transposeA, !!transposeB) ?? cpuKernel('BatchMatMul')(args);
    },

    _FusedMatMul: (args) => {
      const backend = args.backend as CpuBackend;
      const { a, b, bias, preluActivationWeights } = args.inputs;
      const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs as unknown as tf._FusedMatMulAttrs;
      if (!allFloat(bias, preluActivationWeights)) return cpuKernel('_FusedMatMul')(args);
      const r = batchMatMul(backend, a!, b!, !!transposeA, !!transposeB);
      if (!r) return cpuKernel('_FusedMatMul')(args);
      return epilogue(backend, r, bias, preluActivationWeights, activation, leakyreluAlpha);
    },

    FusedConv2D: (args) => {
      const backend = args.backend as CpuBackend;
      const { x, filter, bias, preluActivationWeights } = args.inputs;
      const attrs = args.attrs as unknown as tf.FusedConv2DAttrs;
      if (attrs.dataFormat === 'NCHW' || !allFloat(bias, preluActivationWeights)) return cpuKernel('FusedConv2D')(args);
      const r = conv2d(backend, x!, filter!, args.attrs ?? {});
      if (!r) return cpuKernel('FusedConv2D')(args);
      return epilogue(backend, r, bias, preluActivationWeights, attrs.activation, attrs.leakyreluAlpha);
    },
  };
  return kernels;
}

/** Names of the kernels the native backend replaces (all others are the cpu backend's). */
export const NATIVE_KERNELS: readonly string[] = ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul', '_FusedMatMul', 'FusedConv2D'];

let registered = false;

/**
 * Register the `native` tfjs backend (idempotent). Throws, saying how to
 * build it, when the addon is not built. Does not make it the active
 * backend: call tf.setBackend('native') for that.
 */
export async function registerNativeBackend(): Promise<void> {
  const n = loadNativeAddon();
  if (registered) return;
  const cpu = (await import('@tensorflow/tfjs-backend-cpu')) as typeof import('@tensorflow/tfjs-backend-cpu');
  const MathBackendCPU = cpu.MathBackendCPU;
  if (tf.getKernelsForBackend('cpu').length === 0) {
    throw new Error('@tensorflow/tfjs-backend-cpu registered no kernels with alae\'s @tensorflow/tfjs-core (two tfjs-core instances?)');
  }
  if (!tf.findBackendFactory(NATIVE_BACKEND_NAME)) {
    tf.registerBackend(NATIVE_BACKEND_NAME, () => {
      const b = pooledCpuBackend(MathBackendCPU, new BufferPool(poolEnabled()));
      // Silence the cpu backend's "install tfjs-node" hint: this is the fast path.
      (b as unknown as { firstUse: boolean }).firstUse = false;
      return b;
    }, 1);
  }
  const elementwise = nativeElementwiseKernels(n);
  const native = { ...elementwise, ...makeKernels(n, elementwise) };
  for (const k of tf.getKernelsForBackend('cpu')) {
    if (k.kernelName in native || tf.getKernel(k.kernelName, NATIVE_BACKEND_NAME)) continue;
    tf.registerKernel({ ...k, backendName: NATIVE_BACKEND_NAME });
  }
  for (const [kernelName, fn] of Object.entries(native)) {
    if (tf.getKernel(kernelName, NATIVE_BACKEND_NAME)) continue;
    tf.registerKernel({ kernelName, backendName: NATIVE_BACKEND_NAME, kernelFunc: fn as unknown as tf.KernelFunc });
  }
  registerCustomKernels(NATIVE_BACKEND_NAME, n);
  registered = true;
}
