/**
 * A stride-1 'same' convolution with the 2x resampling beside it folded in:
 * conv(upscale2d(x), w) (DecodeBlock's conv_1 below 128) and
 * downscale2d(conv(x, w)) (EncodeBlock's conv_2 below 128), one kernel each
 * where the backend has the kernel family below, today's op chain (ops.ts)
 * elsewhere: the same values, gradients and second derivatives either way.
 *
 * Kernel names a backend may register, linear in each input (the bias aside), with attrs
 * coarse ('input' or 'output': the side of the convolution stored on a grid
 * twice as coarse) and scale. With U_s = scale times nearest 2x up-sampling
 * and A_s = scale times the 2x2 average (the UPSAMPLE / DOWNSAMPLE kernels'
 * values), and C, Bi, Bf the convolution, its input gradient and its filter
 * gradient (tfjs's Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter):
 *   CONV_RESAMPLE (x, filter, bias optional):  C(U_s x, w) + b or A_s (C(x, w) + b)
 *   CONV_RESAMPLE_BACKPROP_INPUT (dy, filter): A_s Bi(dy, w)  or Bi(U_s dy, w)
 *   CONV_RESAMPLE_BACKPROP_FILTER (x, dy):     Bf(U_s x, dy)  or Bf(x, U_s dy)   (attr filterShape)
 * (coarse 'input', then 'output'). U_s's adjoint is A_4s, A_s's is U_s/4, so
 * the family is closed under differentiation, as tfjs's conv2d family is:
 * each gradient is another member, and R1 can differentiate the encoder twice.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { type Differentiation, conv, downscale2d, upscale2d } from './ops.js';

export const CONV_RESAMPLE = 'AlaeConvResample';
export const CONV_RESAMPLE_BACKPROP_INPUT = 'AlaeConvResampleBackpropInput';
export const CONV_RESAMPLE_BACKPROP_FILTER = 'AlaeConvResampleBackpropFilter';

export type Coarse = 'input' | 'output';

const run = (kernel: string, inputs: Record<string, Tensor>, coarse: Coarse, scale: number, filterShape?: number[]): Tensor4D =>
  tf.engine().runKernel(kernel, inputs as unknown as tf.NamedTensorMap, { coarse, scale, ...(filterShape ? { filterShape } : {}) } as unknown as tf.NamedAttrMap) as Tensor4D;
const convResample = (x: Tensor, filter: Tensor, c: Coarse, s: number, bias?: Tensor): Tensor4D =>
  run(CONV_RESAMPLE, bias ? { x, filter, bias } : { x, filter }, c, s);
const backpropInput = (dy: Tensor, filter: Tensor, c: Coarse, s: number): Tensor4D => run(CONV_RESAMPLE_BACKPROP_INPUT, { dy, filter }, c, s);
const backpropFilter = (x: Tensor, dy: Tensor, c: Coarse, s: number, filterShape: number[]): Tensor4D =>
  run(CONV_RESAMPLE_BACKPROP_FILTER, { x, dy }, c, s, filterShape);

const attrsOf = (a: unknown): { coarse: Coarse; scale: number } => a as { coarse: Coarse; scale: number };

// The gradients, g the gradient of the kernel's output, from the adjoints of U_s (A_4s) and A_s (U_s/4)
// and tfjs's conv2d family's (Bi's input gradient is C, its filter gradient Bf(g, dy); Bf's are Bi(dy, g)
// and C(x, g)). The scales below follow for coarse 'input', then 'output'.
/**
 * CONV_RESAMPLE's gradients of x and filter given g, its output's:
 * x: A_4s Bi(g, w) | Bi(U_s/4 g, w); filter: Bf(U_s x, g) | Bf(x, U_s/4 g).
 */
export function convResampleGradients(g: Tensor, x: Tensor, filter: Tensor, coarse: Coarse, scale: number): { x: () => Tensor; filter: () => Tensor } {
  const s = coarse === 'input' ? scale : scale / 4;
  return {
    x: () => backpropInput(g, filter, coarse, coarse === 'input' ? 4 * s : s),
    filter: () => backpropFilter(x, g, coarse, s, filter.shape),
  };
}

const GRADIENTS: tf.GradConfig[] = [
  {
    // x and filter: convResampleGradients; bias (added before A_s): sum g | s sum g.
    kernelName: CONV_RESAMPLE,
    inputsToSave: ['x', 'filter'],
    gradFunc: (g, [x, filter], a) => {
      const { coarse, scale } = attrsOf(a);
      return {
        ...convResampleGradients(g as Tensor, x, filter, coarse, scale),
        bias: () => tf.tidy(() => (coarse === 'input' || scale === 1 ? tf.sum(g as Tensor, [0, 1, 2]) : tf.mul(tf.sum(g as Tensor, [0, 1, 2]), scale))),
      };
    },
  },
  {
    // dy: C(U_s/4 g, w) | A_4s C(g, w); filter: Bf(U_s/4 g, dy) | Bf(g, U_s dy).
    kernelName: CONV_RESAMPLE_BACKPROP_INPUT,
    inputsToSave: ['dy', 'filter'],
    gradFunc: (g, [dy, filter], a) => {
      const { coarse, scale } = attrsOf(a);
      const s = coarse === 'input' ? scale / 4 : scale;
      return {
        dy: () => convResample(g as Tensor, filter, coarse, coarse === 'input' ? s : 4 * s),
        filter: () => backpropFilter(g as Tensor, dy, coarse, s, filter.shape),
      };
    },
  },
  {
    // x: A_4s Bi(dy, g) | Bi(U_s dy, g); dy: C(U_s x, g) | A_4s C(x, g).
    kernelName: CONV_RESAMPLE_BACKPROP_FILTER,
    inputsToSave: ['x', 'dy'],
    gradFunc: (g, [x, dy], a) => {
      const { coarse, scale } = attrsOf(a);
      return {
        x: () => backpropInput(dy, g as Tensor, coarse, coarse === 'input' ? 4 * scale : scale),
        dy: () => convResample(x, g as Tensor, coarse, coarse === 'input' ? scale : 4 * scale),
      };
    },
  },
];
for (const config of GRADIENTS) if (!tf.getGradient(config.kernelName)) tf.registerGradient(config);

export const hasConvResampleKernels = (): boolean =>
  [CONV_RESAMPLE, CONV_RESAMPLE_BACKPROP_INPUT, CONV_RESAMPLE_BACKPROP_FILTER].every((k) => tf.getKernel(k, tf.getBackend()) !== undefined);

/** conv(upscale2d(x), w) (ops.ts's conv: 'same', stride 1, no bias). */
export function convUp(x: Tensor4D, w: Tensor4D, d: Differentiation = 'none'): Tensor4D {
  if (hasConvResampleKernels()) return convResample(x, w, 'input', 1);
  return tf.tidy(() => conv(upscale2d(x), w, undefined, false, d));
}

/** downscale2d(conv(x, w, bias)) (ops.ts's conv: 'same', stride 1; the bias, optional, added to each fine output). */
export function convDown(x: Tensor4D, w: Tensor4D, d: Differentiation = 'none', bias?: Tensor): Tensor4D {
  if (hasConvResampleKernels()) return convResample(x, w, 'output', 1, bias);
  return tf.tidy(() => downscale2d(conv(x, w, bias, false, d), d));
}
