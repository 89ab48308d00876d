/**
 * The shape facts the webgpu convolution kernels (conv2d*.ts) are
 * generated from: NHWC input, HWIO filter, dilation 1.
 */
import { tf, type Tensor } from '../../tf.js';

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
 * WGSL gathering the input x [N,H,W,C] through the filter's window, the
 * operand the forward (rows: output pixels, k: taps) and the filter
 * gradient (rows: taps, k: output pixels) share:
 *   fn windowOf(p: i32) -> vec4<i32>   output pixel (b, oy, ox) -> top-left input row, column, b * H
 *   fn tapOf(t: i32) -> vec4<i32>      filter tap (ky, kx, c)
 *   fn inputAt(w: vec4<i32>, t: vec4<i32>) -> f32   x under tap t of window w, 0 in the padding (no branch)
 */
export function inputWindowWgsl(g: ConvGeometry): string {
  const { inH: H, inW: W, inC: C, outH: OH, outW: OW, kW: KW } = g;
  return /* wgsl */ `
fn windowOf(p: i32) -> vec4<i32> {
  let ox = p % ${OW}; let t = p / ${OW};
  return vec4<i32>(t % ${OH} * ${g.sH} - ${g.padTop}, ox * ${g.sW} - ${g.padLeft}, t / ${OH} * ${H}, 0);
}
fn tapOf(t: i32) -> vec4<i32> {
  let u = t / ${C};
  return vec4<i32>(u / ${KW}, u % ${KW}, t % ${C}, 0);
}
fn inputAt(w: vec4<i32>, t: vec4<i32>) -> f32 {
  let iy = w.x + t.x; let ix = w.y + t.y;
  let inside = iy >= 0 && iy < ${H} && ix >= 0 && ix < ${W};
  return select(0.0, x[select(0, ((w.z + iy) * ${W} + ix) * ${C} + t.z, inside)], inside);
}`;
}

/** A key naming every field of a geometry. */
export const geometryKey = (g: ConvGeometry): string => Object.values(g).join('_');

/** Are these float32 tensors (the kernels read f32 buffers)? */
export const allFloat32 = (...ts: Array<TensorInfo | Tensor | undefined>): boolean => ts.every((t) => !t || t.dtype === 'float32');
