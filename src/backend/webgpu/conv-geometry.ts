/**
 * The shape facts the webgpu convolution kernels (conv2d*.ts) are
 * generated from: NHWC input, HWIO filter, dilation 1.
 */
import { tf, type Tensor } from '../../tf.js';
import { average2x2Wgsl } from './resample.js';

type TensorInfo = tf.TensorInfo;

/** Sizes, strides and the top/left padding of one convolution. */
export interface ConvGeometry {
  batch: number;
  inH: number; inW: number; inC: number;
  outH: number; outW: number; outC: number;
  kH: number; kW: number;
  sH: number; sW: number;
  padTop: number; padLeft: number;
}

/** A convolution's attributes as tfjs's Conv2D-family kernels get them. */
export interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: string;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** The geometry of a convolution of input xShape by filterShape, or null when the kernels do not handle it (NCHW, dilation, empty). */
export function convGeometry(xShape: number[], filterShape: number[], attrs: ConvAttrs): ConvGeometry | null {
  if (attrs.dataFormat === 'NCHW' || xShape.length !== 4 || filterShape.length !== 4) return null;
  const ci = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  if (ci.dilationHeight !== 1 || ci.dilationWidth !== 1) return null;
  // Empty tensors (nothing to compute, or zeros to write) stay tfjs's.
  if ([...xShape, ...filterShape, ci.outHeight, ci.outWidth].includes(0)) return null;
  return {
    batch: ci.batchSize, inH: ci.inHeight, inW: ci.inWidth, inC: ci.inChannels,
    outH: ci.outHeight, outW: ci.outWidth, outC: ci.outChannels,
    kH: ci.filterHeight, kW: ci.filterWidth, sH: ci.strideHeight, sW: ci.strideWidth,
    padTop: ci.padInfo.top, padLeft: ci.padInfo.left,
  };
}

/**
 * Resampling folded into a stride-1 convolution (nn/conv-resample.ts): one
 * side of it, the input (x, dx) or the output (y, dy), is stored on a grid
 * twice as coarse. A coarse tensor that is read is nearest 2x up-sampled
 * times `scale` (each value is read at (y / 2, x / 2) and multiplied); a
 * coarse tensor that is written is the 2x2 average of the fine values times
 * `scale`, with the roundings of the DOWNSAMPLE kernel (webgpu/resample.ts).
 * The geometry is always the fine convolution's.
 */
export interface Resample {
  coarse: 'input' | 'output';
  scale: number;
}

/** A float as a WGSL literal that round-trips exactly through float32. */
export function f32Literal(v: number): string {
  const f = Math.fround(v);
  if (!Number.isFinite(f)) throw new Error(`not a finite float32: ${v}`);
  return `${f.toPrecision(9)}f`;
}

/** WGSL multiplying `v` by `scale` (nothing for 1). */
export const scaledWgsl = (v: string, scale: number): string => (scale === 1 ? v : `(${v} * ${f32Literal(scale)})`);

/**
 * WGSL gathering the input x [N,H,W,C] through the filter's window, the
 * operand the forward (rows: output pixels, k: taps) and the filter
 * gradient (rows: taps, k: output pixels) share:
 *   fn windowOf(p: i32) -> vec4<i32>   output pixel (b, oy, ox) -> top-left input row, column, b * (stored rows)
 *   fn tapOf(t: i32) -> vec4<i32>      filter tap (ky, kx, c)
 *   fn inputAt(w: vec4<i32>, t: vec4<i32>) -> f32   x under tap t of window w, 0 in the padding (no branch)
 * With `upScale`, x is stored coarse ([N,H/2,W/2,C]) and read up-sampled times upScale (Resample).
 */
export function inputWindowWgsl(g: ConvGeometry, upScale?: number): string {
  const { inH: H, inW: W, inC: C, outH: OH, outW: OW, kW: KW } = g;
  const up = upScale !== undefined;
  const [SH, SW] = up ? [H / 2, W / 2] : [H, W];
  const [ry, rx] = up ? ['iy / 2', 'ix / 2'] : ['iy', 'ix'];
  return /* wgsl */ `
fn windowOf(p: i32) -> vec4<i32> {
  let ox = p % ${OW}; let t = p / ${OW};
  return vec4<i32>(t % ${OH} * ${g.sH} - ${g.padTop}, ox * ${g.sW} - ${g.padLeft}, t / ${OH} * ${SH}, 0);
}
fn tapOf(t: i32) -> vec4<i32> {
  let u = t / ${C};
  return vec4<i32>(u / ${KW}, u % ${KW}, t % ${C}, 0);
}
fn inputAt(w: vec4<i32>, t: vec4<i32>) -> f32 {
  let iy = w.x + t.x; let ix = w.y + t.y;
  let inside = iy >= 0 && iy < ${H} && ix >= 0 && ix < ${W};
  return ${scaledWgsl(`select(0.0, x[select(0, ((w.z + ${ry}) * ${SW} + ${rx}) * ${C} + t.z, inside)], inside)`, upScale ?? 1)};
}`;
}

/**
 * WGSL of the row order of a GEMM whose output is 2x2-averaged (conv-gemm.ts's
 * rowQuads): row m is fine pixel (m % 4) / 2, (m % 4) % 2 of coarse pixel
 * m / 4 of an [N, H, W] grid (H, W even), the order the DOWNSAMPLE kernel adds
 * them in.
 *   fn fineRow(m: i32) -> i32   the fine pixel's index (b, y, x)
 */
export function quadRowsWgsl(H: number, W: number): string {
  // Coarse pixel m / 4 = (t, cx) with t = b * H/2 + cy, whose top-left fine row is b * H + 2 cy = 2t.
  return /* wgsl */ `
fn fineRow(m: i32) -> i32 {
  let q = m % 4; let p = m / 4;
  let cx = p % ${W / 2}; let t = p / ${W / 2};
  return (2 * t + q / 2) * ${W} + 2 * cx + q % 2;
}`;
}

/**
 * WGSL of conv-gemm.ts's store4 writing coarse pixel p, channel n of
 * `channels`: the 2x2 average of the four rounded sums (each plus bias[n]
 * with `bias`, rounded as FusedConv2D's) times `scale`; with `leakyAfter`, the
 * bias is added to the average instead and conv2d.ts's leakyTwice applied.
 */
export const averagedStoreWgsl = (channels: number, scale: number, bias = false, leakyAfter = false): string => leakyAfter ? /* wgsl */ `
fn store4(p: i32, n: i32, z: i32, hi: vec4<f32>, lo: vec4<f32>) {
  let v = hi + lo;
  let a = ${average2x2Wgsl(['v.x', 'v.y', 'v.z', 'v.w'], f32Literal(scale))};
  result[p * ${channels} + n] = leakyTwice(a + bias[n]);
}` : /* wgsl */ `
fn store4(p: i32, n: i32, z: i32, hi: vec4<f32>, lo: vec4<f32>) {
  let v = hi + lo${bias ? ' + vec4<f32>(bias[n])' : ''};
  result[p * ${channels} + n] = ${average2x2Wgsl(['v.x', 'v.y', 'v.z', 'v.w'], f32Literal(scale))};
}`;

/** A key naming every field of a geometry. */
export const geometryKey = (g: ConvGeometry): string => Object.values(g).join('_');

/** Are these float32 tensors (the kernels read f32 buffers)? */
export const allFloat32 = (...ts: Array<TensorInfo | Tensor | undefined>): boolean => ts.every((t) => !t || t.dtype === 'float32');
