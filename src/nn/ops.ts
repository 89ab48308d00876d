/**
 * The primitives of the ALAE networks, in NHWC, in two forms:
 * - fast (the default): one tfjs kernel each where tfjs has one (leakyRelu,
 *   depthwise blur, avgPool, nearest resize, fused conv + bias + activation),
 *   since every op is a dispatch on a GPU;
 * - twice differentiable: built only from ops whose second derivative tfjs
 *   computes correctly (conv2d, matMul, relu, mean, sqrt, pad, slice, concat,
 *   reshape, arithmetic), because the R1 penalty differentiates E and D twice
 *   and tfjs's leakyRelu, depthwiseConv2d and avgPool double backprop throws.
 * `twiceDifferentiable(f)` runs f with the second form. Both compute the same
 * function (test/nn/ops.test.ts) and pass parity.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';

let twice = false;

/** Run f with the twice-differentiable primitives (for the R1 penalty). */
export function twiceDifferentiable<T>(f: () => T): T {
  const prev = twice;
  twice = true;
  try {
    return f();
  } finally {
    twice = prev;
  }
}

const BLUR_1D = [1, 2, 1];

/** leaky_relu(x, 0.2); twice differentiable as 0.2x + 0.8relu(x). */
export function leakyRelu(x: Tensor, alpha = 0.2): Tensor {
  if (!twice) return tf.leakyRelu(x, alpha);
  return tf.tidy(() => tf.add(tf.mul(x, alpha), tf.mul(tf.relu(x), 1 - alpha)));
}

/** y = x @ W + b, W in [in, out] layout. */
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const y = tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D);
  return b ? tf.add(y, b) : y;
}

/** pixel_norm of net.py: x * rsqrt(mean(x^2, features) + eps). */
export function pixelNorm(x: Tensor, eps = 1e-8): Tensor {
  return tf.tidy(() => tf.div(x, tf.sqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))));
}

/**
 * Per-sample, per-channel statistics over H, W: mean, std (no epsilon, as
 * EncodeBlock) and the instance-normalised x (eps inside the sqrt, as
 * nn.InstanceNorm2d), sharing one pass.
 */
export function statsAndNorm(x: Tensor4D, eps: number): { mean: Tensor4D; std: Tensor4D; normed: Tensor4D } {
  return tf.tidy(() => {
    const mean = tf.mean(x, [1, 2], true) as Tensor4D;
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), [1, 2], true);
    const std = tf.sqrt(variance) as Tensor4D;
    const normed = tf.div(centered, tf.sqrt(tf.add(variance, eps))) as Tensor4D;
    return { mean, std, normed };
  });
}

/** style_mod of net.py: style [N, 2C] viewed as (scale, shift); x * (scale + 1) + shift. */
export function styleMod(x: Tensor4D, style: Tensor): Tensor4D {
  return tf.tidy(() => {
    const c = x.shape[3];
    const n = style.shape[0];
    const scale = tf.reshape(tf.slice(style, [0, 0], [n, c]), [n, 1, 1, c]);
    const shift = tf.reshape(tf.slice(style, [0, c], [n, c]), [n, 1, 1, c]);
    return tf.add(tf.mul(x, tf.add(scale, 1)), shift) as Tensor4D;
  });
}

/**
 * Blur of net.py: depthwise 3x3 [1,2,1]x[1,2,1]/16 with zero padding 1.
 * Twice differentiable: separably, with pad + shifted slices.
 */
export function blur(x: Tensor4D): Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    if (!twice) {
      const k = new Float32Array(9 * c);
      for (let i = 0; i < 9; i++) k.fill((BLUR_1D[Math.floor(i / 3)] * BLUR_1D[i % 3]) / 16, i * c, (i + 1) * c);
      return tf.depthwiseConv2d(x, tf.tensor4d(k, [3, 3, c, 1]), 1, 1);
    }
    const p = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
    const rows = tf.add(tf.add(tf.slice(p, [0, 0, 0, 0], [n, h, w + 2, c]), tf.mul(tf.slice(p, [0, 1, 0, 0], [n, h, w + 2, c]), 2)), tf.slice(p, [0, 2, 0, 0], [n, h, w + 2, c]));
    const cols = tf.add(tf.add(tf.slice(rows, [0, 0, 0, 0], [n, h, w, c]), tf.mul(tf.slice(rows, [0, 0, 1, 0], [n, h, w, c]), 2)), tf.slice(rows, [0, 0, 2, 0], [n, h, w, c]));
    return tf.mul(cols, 1 / 16) as Tensor4D;
  });
}

/** 2x2 average pooling (F.avg_pool2d(x, 2, 2)); twice differentiable as reshape + mean. */
export function downscale2d(x: Tensor4D): Tensor4D {
  if (!twice) return tf.avgPool(x, 2, 2, 'valid');
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    return tf.mean(tf.reshape(x, [n, h / 2, 2, w / 2, 2, c]), [2, 4]) as Tensor4D;
  });
}

/**
 * Nearest-neighbour 2x up-sampling (upscale2d of net.py, F.interpolate's
 * default mode), built from concat + reshape in both forms: tfjs has no
 * gradient for a rank-6 tile.
 */
export function upscale2d(x: Tensor4D): Tensor4D {
  // Not tf.image.resizeNearestNeighbor: its gradient is wrong in tfjs 4.22 (test/nn/ops.test.ts).
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const cols = tf.reshape(tf.concat([tf.reshape(x, [n, h, w, 1, c]), tf.reshape(x, [n, h, w, 1, c])], 3), [n, h, 1, 2 * w, c]);
    return tf.reshape(tf.concat([cols, cols], 2), [n, 2 * h, 2 * w, c]) as Tensor4D;
  });
}

/** torch.lerp(a, b, t) = a + t (b - a). */
export function lerp(a: Tensor, b: Tensor, t: number | Tensor): Tensor {
  return tf.tidy(() => tf.add(a, tf.mul(tf.sub(b, a), t)));
}

/**
 * transform_kernel of lreq.Conv2d: pad the 3x3 kernel by one and sum its four
 * shifts, giving the 4x4 kernel of a blur-then-stride-2 step. Works on HWIO
 * (conv) and HW-out-in (transposed conv) alike since only H, W move.
 */
export function transformKernel(w: Tensor4D, scale: number): Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, a, b] = w.shape;
    const p = tf.pad(w, [[1, 1], [1, 1], [0, 0], [0, 0]]);
    const s = (y: number, x: number): Tensor => tf.slice(p, [y, x, 0, 0], [kh + 1, kw + 1, a, b]);
    const sum = tf.add(tf.add(s(1, 1), s(0, 1)), tf.add(s(1, 0), s(0, 0)));
    return (scale === 1 ? sum : tf.mul(sum, scale)) as Tensor4D;
  });
}

/**
 * 3x3 (or 1x1) convolution, stride 1, 'same' zero padding; weight HWIO;
 * optional bias and leaky ReLU, fused into one kernel where tfjs can.
 */
export function conv(x: Tensor4D, w: Tensor4D, bias?: Tensor, leaky = false): Tensor4D {
  const pad = (w.shape[0] - 1) / 2;
  const p = pad === 0 ? 'valid' : pad;
  if (!twice) return tf.fused.conv2d({ x, filter: w, strides: 1, pad: p, bias, activation: leaky ? 'leakyrelu' : 'linear', leakyreluAlpha: 0.2 });
  return tf.tidy(() => {
    let y: Tensor = tf.conv2d(x, w, 1, p);
    if (bias) y = tf.add(y, bias);
    return (leaky ? leakyRelu(y) : y) as Tensor4D;
  });
}

/** Fused down-sampling: stride-2 conv with the transformed 4x4 kernel, padding 1. */
export function convDownFused(x: Tensor4D, w3: Tensor4D): Tensor4D {
  return tf.tidy(() => tf.conv2d(x, transformKernel(w3, 0.25), 2, 1));
}

/** Fused up-sampling: stride-2 transposed conv with the transformed 4x4 kernel (no 0.25), padding 1. */
export function convUpFused(x: Tensor4D, w3: Tensor4D): Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = x.shape;
    const k = transformKernel(w3, 1);
    return tf.conv2dTranspose(x, k, [n, 2 * h, 2 * w, k.shape[2]], 2, 1);
  });
}
