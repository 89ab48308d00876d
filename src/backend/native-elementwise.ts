/**
 * The `native` backend's elementwise, reduction and data-movement kernels
 * (native/kernels/elementwise.h): after the convolutions went native, inference was
 * dominated by tfjs-cpu's generic JS loops for broadcast arithmetic, means,
 * strided slices and the depthwise blur (and, in training, the slices of
 * SplitV, the masks of the leaky-ReLU gradient, the pads of the
 * twice-differentiable blur). Each kernel here handles float32 NHWC inputs
 * and hands anything else (other dtypes, NCHW, strides or windows it does not
 * cover) to the cpu kernel of the same name.
 *
 * Numerics follow the cpu kernels: + - * / sqrt and the unary maps give the
 * same bits (JS computes in double and stores into a Float32Array, which for
 * these ops is the float32 operation; test/backend/native-elementwise.test.ts
 * checks bit equality); Sum and Mean accumulate in double (Mean divides each
 * element by the count first, as tfjs does); the depthwise convolution and
 * average pooling accumulate in double and round once.
 *
 * Set ALAE_NATIVE_ELEMENTWISE=0 to leave these kernels to tfjs-cpu (A/B
 * comparisons, bisecting a numerical difference).
 */
import { tf } from '../tf.js';
import { hasAbi, type NativeAbi, packParams } from './native-abi.js';
import { type BufferPool, poolOf } from './native-memory.js';
import { rowMajorStrides } from '../util/strides.js';

type TensorInfo = tf.TensorInfo;
type NamedAttrMap = tf.NamedAttrMap;

/** The addon's elementwise entry points (native/bindings/elementwise.cc); op codes and params layouts come from its ABI. */
export interface ElementwiseAddon extends NativeAbi {
  /** op: ops.binary[kernel name]; numpy broadcasting of aShape and bShape into out. */
  ewBinary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, aShape: Int32Array, bShape: Int32Array): void;
  /** op: ops.compare[kernel name]; out is a bool tensor's Uint8Array. */
  ewCompare(op: number, a: Float32Array, b: Float32Array, out: Uint8Array, aShape: Int32Array, bShape: Int32Array): void;
  /** out[i] = condition[i] === 1 ? t[i] : e[i], all of one shape. */
  ewSelect(condition: Uint8Array, t: Float32Array, e: Float32Array, out: Float32Array): void;
  /** op: ops.unary[kernel name]; alpha: LeakyRelu's slope, Step's value at x <= 0. */
  ewUnary(op: number, x: Float32Array, out: Float32Array, alpha: number): void;
  /** Sum (mean: 0) or mean (1) over the dimensions where mask is 1; out is the kept dimensions, row-major. */
  ewReduce(x: Float32Array, out: Float32Array, shape: Int32Array, mask: Int32Array, mean: number): void;
  /** dst[dstOffset + i.dstStrides] = src[srcOffset + i.srcStrides] over the index box `shape`. */
  ewCopy(src: Float32Array, dst: Float32Array, shape: Int32Array, srcStrides: Int32Array, dstStrides: Int32Array,
    srcOffset: number, dstOffset: number): void;
  /**
   * dst[n,y,x,c] = sum_k src[n, y+dy_k, x+dx_k, c] * w[k*C + c] over taps inside src.
   * params: layouts.depthwise; offsets: [dy_0, dx_0, dy_1, dx_1, ...].
   */
  ewDepthwise(src: Float32Array, w: Float32Array, dst: Float32Array, params: Int32Array, offsets: Int32Array): void;
  /** dw[k*C + c] = sum_{n,y,x} src[n, y+dy_k, x+dx_k, c] * dy[n,y,x,c] (dy on the [N,Hd,Wd,C] grid). */
  ewDepthwiseFilter(src: Float32Array, dy: Float32Array, dw: Float32Array, params: Int32Array, offsets: Int32Array): void;
  /** params: layouts.pool; no padding. */
  ewAvgPool(x: Float32Array, y: Float32Array, params: Int32Array): void;
  /** Gradient of ewAvgPool for stride = window. */
  ewAvgPoolGrad(dy: Float32Array, dx: Float32Array, params: Int32Array): void;
  /** Nearest-neighbour 2x up-sampling, NHWC; params: layouts.upsample. */
  ewUpsample2x(x: Float32Array, y: Float32Array, params: Int32Array): void;
}

interface CpuBackend {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array | Uint8Array): TensorInfo;
}

interface KernelArgs {
  inputs: Record<string, TensorInfo | undefined> | TensorInfo[];
  backend: unknown;
  attrs?: NamedAttrMap;
}
type KernelFn = (args: KernelArgs) => TensorInfo | TensorInfo[];

/** Does this addon build have the elementwise kernels? */
export function hasElementwise(addon: object): addon is ElementwiseAddon {
  const a = addon as Partial<ElementwiseAddon>;
  return hasAbi(addon) && typeof a.ewBinary === 'function' && typeof a.ewReduce === 'function' && typeof a.ewCopy === 'function' &&
    typeof a.ewDepthwise === 'function' && typeof a.ewAvgPool === 'function' && typeof a.ewCompare === 'function' &&
    typeof a.ewSelect === 'function' && typeof a.ewUpsample2x === 'function';
}

/** Names of the kernels elementwiseKernels() provides: one per op code the addon exports, and the rest. */
export function elementwiseKernelNames(n: ElementwiseAddon): string[] {
  return [
    ...Object.keys(n.ops.binary), ...Object.keys(n.ops.compare), 'Select', ...Object.keys(n.ops.unary),
    'Sum', 'Mean',
    'Slice', 'SplitV', 'Concat', 'PadV2', 'Transpose', 'Tile',
    'DepthwiseConv2dNative', 'DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter',
    'AvgPool', 'AvgPoolGrad', 'ResizeNearestNeighbor',
  ];
}

const MAX_RANK = 8;
/** Beyond this many elements offsets no longer fit the addon's int32 strides: the cpu kernel runs. */
const MAX_ELEMS = 2 ** 31 - 1;

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

function cpuKernel(name: string): KernelFn {
  const k = tf.getKernel(name, 'cpu');
  if (!k) throw new Error(`tfjs cpu kernel '${name}' is not registered (is @tensorflow/tfjs-backend-cpu loaded?)`);
  return k.kernelFunc as unknown as KernelFn;
}

/** The Float32Array behind a float32 tensor of rank <= 8, or null (the caller falls back). */
function f32(backend: CpuBackend, t: TensorInfo | undefined): Float32Array | null {
  if (!t || t.dtype !== 'float32' || t.shape.length > MAX_RANK) return null;
  const v = backend.data.get(t.dataId).values;
  if (!(v instanceof Float32Array) || v.length > MAX_ELEMS) return null;
  return v;
}

/** The kernels, by tfjs kernel name, for registration on the native backend. */
export function elementwiseKernels(n: ElementwiseAddon): Record<string, KernelFn> {
  const kernels: Record<string, KernelFn> = {};

  // The native kernel where `run` covers the case; where it returns null, the cpu kernel of the same name.
  // One closure per kernel, made here: a call allocates nothing more than the kernel itself does.
  const register = (name: string, run: (args: KernelArgs, backend: CpuBackend) => TensorInfo | TensorInfo[] | null): void => {
    const fallback = cpuKernel(name);
    kernels[name] = (args) => run(args, args.backend as CpuBackend) ?? fallback(args);
  };

  // Arithmetic (float32 out) and comparisons (bool out) share the broadcasting call.
  const broadcast = (name: string, dtype: 'float32' | 'bool',
    run: (av: Float32Array, bv: Float32Array, size: number, a: TensorInfo, b: TensorInfo, pool: BufferPool) => Float32Array | Uint8Array): void => {
    register(name, (args, backend) => {
      const { a, b } = args.inputs as Record<string, TensorInfo>;
      const av = f32(backend, a), bv = f32(backend, b);
      if (!av || !bv) return null;
      const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      if (outShape.length > MAX_RANK) return null;
      return backend.makeTensorInfo(outShape, dtype, run(av, bv, sizeOf(outShape), a, b, poolOf(backend)));
    });
  };
  for (const [name, op] of Object.entries(n.ops.binary)) {
    broadcast(name, 'float32', (av, bv, size, a, b, pool) => {
      const out = pool.floats(size);
      n.ewBinary(op, av, bv, out, Int32Array.from(a.shape), Int32Array.from(b.shape));
      return out;
    });
  }
  for (const [name, op] of Object.entries(n.ops.compare)) {
    broadcast(name, 'bool', (av, bv, size, a, b, pool) => {
      const out = pool.bytes(size);
      n.ewCompare(op, av, bv, out, Int32Array.from(a.shape), Int32Array.from(b.shape));
      return out;
    });
  }

  register('Select', (args, backend) => {
    const { condition, t, e } = args.inputs as Record<string, TensorInfo>;
    const tv = f32(backend, t), ev = f32(backend, e);
    const cv = condition.dtype === 'bool' ? backend.data.get(condition.dataId).values : null;
    if (!tv || !ev || !(cv instanceof Uint8Array) || !sameShape(condition.shape, t.shape) || !sameShape(t.shape, e.shape)) {
      return null;
    }
    const out = poolOf(backend).floats(tv.length);
    n.ewSelect(cv, tv, ev, out);
    return backend.makeTensorInfo(t.shape.slice(), 'float32', out);
  });

  for (const [name, op] of Object.entries(n.ops.unary)) {
    register(name, (args, backend) => {
      const { x } = args.inputs as Record<string, TensorInfo>;
      const xv = f32(backend, x);
      if (!xv) return null;
      let alpha = 0;
      if (name === 'LeakyRelu' || name === 'Step') {
        alpha = Number((args.attrs as { alpha?: number } | undefined)?.alpha ?? (name === 'LeakyRelu' ? 0.2 : 0));
      }
      const out = poolOf(backend).floats(xv.length);
      n.ewUnary(op, xv, out, alpha);
      return backend.makeTensorInfo(x.shape.slice(), 'float32', out);
    });
  }

  for (const name of ['Sum', 'Mean']) {
    register(name, (args, backend) => {
      const { x } = args.inputs as Record<string, TensorInfo>;
      const xv = f32(backend, x);
      if (!xv) return null;
      const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const [outShape] = tf.backend_util.computeOutAndReduceShapes(x.shape, axes);
      const mask = new Int32Array(x.shape.length);
      for (const ax of axes) mask[ax] = 1;
      const out = poolOf(backend).floats(sizeOf(outShape));
      n.ewReduce(xv, out, Int32Array.from(x.shape), mask, name === 'Mean' ? 1 : 0);
      const shape = keepDims ? tf.backend_util.expandShapeToKeepDim(outShape, axes) : outShape;
      return backend.makeTensorInfo(shape, 'float32', out);
    });
  }

  const copy = (src: Float32Array, dst: Float32Array, shape: readonly number[], srcStrides: readonly number[],
    dstStrides: readonly number[], srcOffset: number, dstOffset: number): void => {
    n.ewCopy(src, dst, Int32Array.from(shape), Int32Array.from(srcStrides), Int32Array.from(dstStrides), srcOffset, dstOffset);
  };

  // A strided slice of a float32 tensor (a copy, also where the slice is contiguous).
  const sliceOf = (backend: CpuBackend, x: TensorInfo, xv: Float32Array, begin: number[], size: number[]): TensorInfo => {
    const xStrides = rowMajorStrides(x.shape);
    const offset = begin.reduce((acc, b, i) => acc + b * xStrides[i], 0);
    const len = sizeOf(size);
    let out: Float32Array;
    if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
      out = poolOf(backend).floats(len);
      out.set(xv.subarray(offset, offset + len));
    } else {
      out = poolOf(backend).floats(len);
      copy(xv, out, size, xStrides, rowMajorStrides(size), offset, 0);
    }
    return backend.makeTensorInfo(size.slice(), 'float32', out);
  };

  register('Slice', (args, backend) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const xv = f32(backend, x);
    if (!xv) return null;
    const { begin, size } = args.attrs as unknown as tf.SliceAttrs;
    const [$begin, $size] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    tf.slice_util.assertParamsValid(x as tf.Tensor, $begin, $size);
    // A contiguous slice is a zero-copy view in the cpu kernel.
    if (tf.slice_util.isSliceContinous(x.shape, $begin, $size)) return null;
    return sliceOf(backend, x, xv, $begin, $size);
  });

  register('SplitV', (args, backend) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const xv = f32(backend, x);
    if (!xv) return null;
    const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs;
    const $axis = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, $axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = x.shape.slice();
      size[$axis] = s;
      const piece = sliceOf(backend, x, xv, begin, size);
      begin[$axis] += s;
      return piece;
    });
  });

  register('Concat', (args, backend) => {
    const inputs = args.inputs as unknown as TensorInfo[];
    const vals = inputs.map((t) => f32(backend, t));
    if (inputs.length < 2 || vals.some((v) => !v)) return null;
    const { axis } = args.attrs as unknown as tf.ConcatAttrs;
    const $axis = tf.util.parseAxisParam(axis, inputs[0].shape)[0];
    const shapes = inputs.map((t) => t.shape);
    tf.backend_util.assertParamsConsistent(shapes, $axis);
    const outShape = tf.backend_util.computeOutShape(shapes, $axis);
    if (sizeOf(outShape) > MAX_ELEMS) return null;
    const out = poolOf(backend).floats(sizeOf(outShape));
    const outStrides = rowMajorStrides(outShape);
    let at = 0;
    inputs.forEach((t, i) => {
      if (sizeOf(t.shape) > 0) copy(vals[i]!, out, t.shape, rowMajorStrides(t.shape), outStrides, 0, at * outStrides[$axis]);
      at += t.shape[$axis];
    });
    return backend.makeTensorInfo(outShape, 'float32', out);
  });

  register('PadV2', (args, backend) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const xv = f32(backend, x);
    if (!xv) return null;
    const { paddings, constantValue } = args.attrs as unknown as tf.PadV2Attrs;
    if (paddings.some(([a, b]) => a < 0 || b < 0)) return null;
    const outShape = paddings.map(([a, b], i) => a + x.shape[i] + b);
    if (sizeOf(outShape) > MAX_ELEMS) return null;
    const out = poolOf(backend).floats(sizeOf(outShape)).fill(constantValue);
    const outStrides = rowMajorStrides(outShape);
    const offset = paddings.reduce((acc, [a], i) => acc + a * outStrides[i], 0);
    if (xv.length > 0) copy(xv, out, x.shape, rowMajorStrides(x.shape), outStrides, 0, offset);
    return backend.makeTensorInfo(outShape, 'float32', out);
  });

  register('Transpose', (args, backend) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const xv = f32(backend, x);
    if (!xv) return null;
    const { perm } = args.attrs as unknown as tf.TransposeAttrs;
    const xStrides = rowMajorStrides(x.shape);
    const outShape = perm.map((p) => x.shape[p]);
    const out = poolOf(backend).floats(xv.length);
    copy(xv, out, outShape, perm.map((p) => xStrides[p]), rowMajorStrides(outShape), 0, 0);
    return backend.makeTensorInfo(outShape, 'float32', out);
  });

  // Tile (tf.tile, tf.broadcastTo): out[i] = x[i mod x.shape] as one strided copy over [reps_0, x_0, reps_1, x_1, ...],
  // the source strides 0 along the repetitions (rank <= 4).
  register('Tile', (args, backend) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const xv = f32(backend, x);
    const { reps } = args.attrs as unknown as tf.TileAttrs;
    if (!xv || 2 * x.shape.length > MAX_RANK || reps.length !== x.shape.length) return null;
    const outShape = x.shape.map((d, i) => d * reps[i]);
    if (sizeOf(outShape) > MAX_ELEMS) return null;
    const out = poolOf(backend).floats(sizeOf(outShape));
    if (out.length > 0) {
      const xs = rowMajorStrides(x.shape), os = rowMajorStrides(outShape);
      copy(xv, out, x.shape.flatMap((d, i) => [reps[i], d]), xs.flatMap((st) => [0, st]),
        os.flatMap((st, i) => [x.shape[i] * st, st]), 0, 0);
    }
    return backend.makeTensorInfo(outShape, 'float32', out);
  });

  // Depthwise convolution at stride 1, channel multiplier 1, NHWC: a sum of
  // shifted taps. Tap k = (i, j) reads the filter's [i, j, :, 0] row.
  type DwAttrs = {
    strides: [number, number] | number; pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dilations?: [number, number] | number; dimRoundingMode?: 'floor' | 'round' | 'ceil'; dataFormat?: string;
  };
  const dwInfo = (xShape: number[], filterShape: number[], attrs: DwAttrs): tf.backend_util.Conv2DInfo | null => {
    if (attrs.dataFormat === 'NCHW' || xShape.length !== 4 || filterShape.length !== 4 || filterShape[3] !== 1) return null;
    const ci = tf.backend_util.computeConv2DInfo(
      xShape as [number, number, number, number], filterShape as [number, number, number, number],
      attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, true);
    if (ci.strideHeight !== 1 || ci.strideWidth !== 1 || ci.inChannels !== ci.outChannels) return null;
    return ci;
  };
  // Offsets into the input of the forward taps (sign = 1) or into dy for the input gradient (sign = -1).
  const tapOffsets = (ci: tf.backend_util.Conv2DInfo, sign: 1 | -1): Int32Array => {
    const off = new Int32Array(2 * ci.filterHeight * ci.filterWidth);
    for (let i = 0; i < ci.filterHeight; i++) {
      for (let j = 0; j < ci.filterWidth; j++) {
        const k = i * ci.filterWidth + j;
        off[2 * k] = sign * (i * ci.dilationHeight - ci.padInfo.top);
        off[2 * k + 1] = sign * (j * ci.dilationWidth - ci.padInfo.left);
      }
    }
    return off;
  };
  // The params of one depthwise call: src on the input grid, dst on the output grid (sign = 1: the forward
  // pass and the filter gradient, with tapOffsets(ci, 1)), or dy's grid to the input's (sign = -1, taps mirrored).
  const dwParams = (ci: tf.backend_util.Conv2DInfo, sign: 1 | -1): Int32Array => {
    const fwd = sign === 1;
    return packParams(n, 'depthwise', {
      N: ci.batchSize, C: ci.inChannels, taps: ci.filterHeight * ci.filterWidth,
      Hs: fwd ? ci.inHeight : ci.outHeight, Ws: fwd ? ci.inWidth : ci.outWidth,
      Hd: fwd ? ci.outHeight : ci.inHeight, Wd: fwd ? ci.outWidth : ci.inWidth,
    });
  };

  // The three depthwise kernels differ in their two float32 inputs, where the geometry's shapes come from,
  // the output (forward: y, then dx, dw) and the call; a gradient's dy must lie on the forward output's grid.
  type DwInputs = Record<string, TensorInfo>;
  type DwGradAttrs = DwAttrs & { inputShape: number[]; filterShape: number[] };
  const depthwise = (name: string, inputs: [string, string],
    geometry: (ins: DwInputs, attrs: DwGradAttrs) => [xShape: number[], filterShape: number[]],
    outShape: (ci: tf.backend_util.Conv2DInfo) => number[],
    call: (a: Float32Array, b: Float32Array, out: Float32Array, ci: tf.backend_util.Conv2DInfo) => void): void => {
    register(name, (args, backend) => {
      const ins = args.inputs as DwInputs;
      const attrs = args.attrs as unknown as DwGradAttrs;
      const av = f32(backend, ins[inputs[0]]), bv = f32(backend, ins[inputs[1]]);
      const ci = av && bv ? dwInfo(...geometry(ins, attrs), attrs) : null;
      if (!ci || !av || !bv || (ins.dy && !sameShape(ins.dy.shape, ci.outShape))) return null;
      const out = poolOf(backend).floats(sizeOf(outShape(ci)));
      call(av, bv, out, ci);
      return backend.makeTensorInfo(outShape(ci), 'float32', out);
    });
  };
  depthwise('DepthwiseConv2dNative', ['x', 'filter'], ({ x, filter }) => [x.shape, filter.shape], (ci) => ci.outShape,
    (xv, wv, y, ci) => n.ewDepthwise(xv, wv, y, dwParams(ci, 1), tapOffsets(ci, 1)));
  depthwise('DepthwiseConv2dNativeBackpropInput', ['dy', 'filter'], ({ filter }, attrs) => [attrs.inputShape, filter.shape],
    (ci) => ci.inShape, (gv, wv, dx, ci) => n.ewDepthwise(gv, wv, dx, dwParams(ci, -1), tapOffsets(ci, -1)));
  depthwise('DepthwiseConv2dNativeBackpropFilter', ['x', 'dy'], ({ x }, attrs) => [x.shape, attrs.filterShape],
    (ci) => ci.filterShape, (xv, gv, dw, ci) => n.ewDepthwiseFilter(xv, gv, dw, dwParams(ci, 1), tapOffsets(ci, 1)));

  type PoolAttrs = {
    filterSize: [number, number] | number; strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding; dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const poolInfo = (xShape: number[], attrs: PoolAttrs): tf.backend_util.Conv2DInfo | null => {
    if (xShape.length !== 4) return null;
    const ci = tf.backend_util.computePool2DInfo(xShape as [number, number, number, number], attrs.filterSize, attrs.strides,
      1, attrs.pad, attrs.dimRoundingMode);
    const p = ci.padInfo;
    if (p.top !== 0 || p.left !== 0 || p.bottom !== 0 || p.right !== 0 || ci.dilationHeight !== 1 || ci.dilationWidth !== 1) return null;
    if ((ci.outHeight - 1) * ci.strideHeight + ci.filterHeight > ci.inHeight) return null;
    if ((ci.outWidth - 1) * ci.strideWidth + ci.filterWidth > ci.inWidth) return null;
    return ci;
  };
  const poolParams = (ci: tf.backend_util.Conv2DInfo): Int32Array => packParams(n, 'pool', {
    N: ci.batchSize, H: ci.inHeight, W: ci.inWidth, C: ci.inChannels, Ho: ci.outHeight, Wo: ci.outWidth,
    fh: ci.filterHeight, fw: ci.filterWidth, sh: ci.strideHeight, sw: ci.strideWidth,
  });

  register('AvgPool', (args, backend) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const xv = f32(backend, x);
    const ci = xv ? poolInfo(x.shape, args.attrs as unknown as PoolAttrs) : null;
    if (!ci || !xv || ci.outHeight === 0 || ci.outWidth === 0) return null;
    const y = poolOf(backend).floats(sizeOf(ci.outShape));
    n.ewAvgPool(xv, y, poolParams(ci));
    return backend.makeTensorInfo(ci.outShape, 'float32', y);
  });

  register('AvgPoolGrad', (args, backend) => {
    const { dy, input } = args.inputs as Record<string, TensorInfo>;
    const gv = f32(backend, dy);
    const ci = gv && input.dtype === 'float32' ? poolInfo(input.shape, args.attrs as unknown as PoolAttrs) : null;
    if (!ci || !gv || ci.strideHeight !== ci.filterHeight || ci.strideWidth !== ci.filterWidth ||
      dy.shape.some((d, i) => d !== ci.outShape[i])) return null;
    const dx = poolOf(backend).floats(sizeOf(ci.inShape));
    n.ewAvgPoolGrad(gv, dx, poolParams(ci));
    return backend.makeTensorInfo(ci.inShape, 'float32', dx);
  });

  // upscale2d's forward (nn/ops.ts): exactly twice the size, no corner alignment or half-pixel centres; else cpu.
  register('ResizeNearestNeighbor', (args, backend) => {
    const { images } = args.inputs as Record<string, TensorInfo>;
    const { size, alignCorners, halfPixelCenters } = args.attrs as unknown as tf.ResizeNearestNeighborAttrs;
    const xv = f32(backend, images);
    if (!xv || images.shape.length !== 4 || alignCorners || halfPixelCenters) return null;
    const [N, H, W, C] = images.shape;
    if (size[0] !== 2 * H || size[1] !== 2 * W || 4 * xv.length > MAX_ELEMS) return null;
    const y = poolOf(backend).floats(4 * xv.length);
    n.ewUpsample2x(xv, y, packParams(n, 'upsample', { N, H, W, C }));
    return backend.makeTensorInfo([N, 2 * H, 2 * W, C], 'float32', y);
  });

  return kernels;
}

/**
 * The kernels to register on the native backend: none when the addon build
 * predates them or ALAE_NATIVE_ELEMENTWISE=0.
 */
export function nativeElementwiseKernels(addon: object): Record<string, KernelFn> {
  if (process.env.ALAE_NATIVE_ELEMENTWISE === '0' || !hasElementwise(addon)) return {};
  return elementwiseKernels(addon);
}
