/**
 * The encoder's convolutions with their bias and twice-differentiable leaky
 * ReLU (FromRGB, EncodeBlock's conv_1 and conv_2) as one op in training:
 * leaky_relu(conv(x, w) + b), or leaky_relu(downscale2d(conv(x, w)) + b)
 * (conv_2 below 128, the reference's order: bias after the pooling).
 *
 * Kernel name a backend may register, CONV_BIAS_LEAKY (x, filter, bias;
 * attrs strides, pad, down): the value of ops.ts's leakyRelu(y, 'once', b)
 * for y = tf.conv2d(x, filter, strides, pad), or with `down` y =
 * conv-resample.ts's convDown(x, filter) ('same', stride 1), with the
 * roundings of those kernels: the same bits in one dispatch instead of two.
 * Its gradient is the chain's, kernel for kernel: BIAS_LEAKY_GRAD (dy, y ->
 * dh, db) then the convolution's input and filter gradients of dh, so the
 * gradients and R1's second derivatives are the chain's too. Where the
 * backend lacks the kernels, the chain runs.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { BIAS_LEAKY_GRAD, BIAS_LEAKY_GRAD_GRAD, type Differentiation, conv, convDownFused, hasKernel as has, leakyRelu, transformKernel } from './ops.js';
import { convDown, convResampleGradients, hasConvResampleKernels } from './conv-resample.js';

export const CONV_BIAS_LEAKY = 'AlaeConvBiasLeaky';

interface ConvBiasLeakyAttrs {
  strides: number;
  pad: number | 'same' | 'valid';
  down: boolean;
}

const hasKernels = (down: boolean): boolean =>
  has(CONV_BIAS_LEAKY) && has(BIAS_LEAKY_GRAD) && has(BIAS_LEAKY_GRAD_GRAD) && (!down || hasConvResampleKernels());

if (!tf.getGradient(CONV_BIAS_LEAKY)) {
  tf.registerGradient({
    kernelName: CONV_BIAS_LEAKY,
    inputsToSave: ['x', 'filter'],
    outputsToSave: [true],
    gradFunc: (dy, saved, a) => {
      const [x, filter, y] = saved;
      const { strides, pad, down } = a as unknown as ConvBiasLeakyAttrs;
      // biasLeakyTwice's gradient (ops.ts), then the convolution's as tfjs's Conv2D gradient (or CONV_RESAMPLE's) runs it.
      const [dh, db] = tf.engine().runKernel(BIAS_LEAKY_GRAD, { dy, y } as unknown as tf.NamedTensorMap) as Tensor[];
      const conv = down
        ? convResampleGradients(dh, x, filter, 'output', 1)
        : {
          x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: dh, filter } as unknown as tf.NamedTensorMap,
            { strides, pad, dataFormat: 'NHWC', inputShape: x.shape } as unknown as tf.NamedAttrMap) as Tensor,
          filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: dh } as unknown as tf.NamedTensorMap,
            { strides, pad, dataFormat: 'NHWC', filterShape: filter.shape } as unknown as tf.NamedAttrMap) as Tensor,
        };
      return { ...conv, bias: () => db };
    },
  });
}

const run = (x: Tensor, filter: Tensor, bias: Tensor, attrs: ConvBiasLeakyAttrs): Tensor4D =>
  tf.engine().runKernel(CONV_BIAS_LEAKY, { x, filter, bias } as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as Tensor4D;

/** leaky_relu(conv(x, w) + bias): ops.ts's conv(x, w, bias, true, d) ('same', stride 1). */
export function convBiasLeaky(x: Tensor4D, w: Tensor4D, bias: Tensor, d: Differentiation): Tensor4D {
  if (d === 'none' || !hasKernels(false)) return conv(x, w, bias, true, d);
  return run(x, w, bias, { strides: 1, pad: (w.shape[0] - 1) / 2, down: false });
}

/**
 * EncodeBlock's conv_2 with its bias and leaky ReLU: with `fused` (128 and
 * up), the stride-2 convolution by the transformed kernel (ops.ts's
 * convDownFused), else downscale2d(conv(x, w)); the bias after either.
 */
export function convDownBiasLeaky(x: Tensor4D, w: Tensor4D, bias: Tensor, d: Differentiation, fused: boolean): Tensor4D {
  if (d !== 'none' && hasKernels(!fused)) {
    return fused ? tf.tidy(() => run(x, transformKernel(w, 0.25), bias, { strides: 2, pad: 1, down: false })) : run(x, w, bias, { strides: 1, pad: 1, down: true });
  }
  // avg_pool(conv(x)) + bias (the reference's order) = avg_pool(conv(x) + bias): at inference the
  // bias rides in tfjs's fused conv, in training in the leaky ReLU's kernel (and its gradient's).
  if (fused) return leakyRelu(convDownFused(x, w), d, bias) as Tensor4D;
  return (d === 'none' ? leakyRelu(convDown(x, w, d, bias), d) : leakyRelu(convDown(x, w, d), d, bias)) as Tensor4D;
}
