/**
 * The primitives of the ALAE networks, in NHWC, in two forms:
 * - fast (the default): one tfjs kernel each where tfjs has one (leakyRelu,
 *   depthwise blur, avgPool, nearest resize, fused conv + bias + activation),
 *   since every op is a dispatch on a GPU;
 * - twice differentiable: the R1 penalty differentiates E and D twice, and
 *   tfjs's leakyRelu, depthwiseConv2d and avgPool double backprop throws.
 *   Convolutions, matMul and arithmetic are differentiated by tfjs (their
 *   second derivatives are right); blur, pooling, up-sampling and the leaky
 *   ReLU are customGrad ops whose gradients are written out in ops that can
 *   be differentiated again (one or two kernels each instead of the 4-10 of
 *   pad/slice/reshape formulations: 13,101 -> 10,165 kernels per mnist-small
 *   training iteration).
 * `twiceDifferentiable(f)` runs f with the second form; `firstOrder(f)` with
 * the first, minus the one fusion tfjs cannot differentiate (refinement).
 * Both compute the same function, first and second derivatives are checked
 * (test/nn/ops.test.ts, test/losses), and both pass parity.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';

/**
 * Scoped modes: `twice` picks the twice-differentiable primitives; `second` marks ops that will be
 * differentiated twice; `once` marks ops that will be differentiated once (the fast primitives,
 * but no activation fused into a convolution: tfjs has no gradient for a fused leaky ReLU).
 */
const mode = { twice: false, second: false, once: false };

function withMode<T>(key: keyof typeof mode, f: () => T): T {
  const prev = mode[key];
  mode[key] = true;
  try {
    return f();
  } finally {
    mode[key] = prev;
  }
}

/** Run f with the twice-differentiable primitives (for the R1 penalty). */
export const twiceDifferentiable = <T>(f: () => T): T => withMode('twice', f);

/**
 * Run f where its ops will be differentiated twice (R1's inner gradient,
 * losses.ts). Fused kernels whose gradient is written as one first-order
 * kernel (nn/instance-stats.ts) are left out here: their gradient has no
 * gradient of its own. Elsewhere, even under twiceDifferentiable, a
 * parameter gradient is first order and they may run.
 */
export const secondOrder = <T>(f: () => T): T => withMode('second', f);

/**
 * Run f where its ops will be differentiated once, with the fast primitives
 * (refinement, api/refine-loss.ts): their first derivatives are right.
 */
export const firstOrder = <T>(f: () => T): T => withMode('once', f);

/** Is the caller inside secondOrder(f)? */
export const differentiatedTwice = (): boolean => mode.second;

const BLUR_1D = [1, 2, 1];

/**
 * Linear ops with hand-written gradients. tfjs cannot differentiate the
 * gradients of its own leakyRelu, depthwiseConv2d and avgPool kernels (and
 * resizeNearestNeighbor's gradient is wrong), but the gradient of a linear
 * map is its adjoint, itself linear: a customGrad whose gradient is another
 * customGrad can be differentiated any number of times, one kernel per use.
 * (The ops run inside a customGrad's forward are not taped; the gradient's
 * ops are, so a second derivative sees them.)
 */
type Unary = (x: Tensor4D) => Tensor4D;
const linearOp = (forward: Unary, adjoint: () => Unary): Unary => {
  const op = tf.customGrad((x) => ({ value: forward(x as Tensor4D), gradFunc: (dy) => adjoint()(dy as Tensor4D) }));
  return (x) => op(x) as Tensor4D;
};

function blurKernel(c: number): tf.Tensor4D {
  const k = new Float32Array(9 * c);
  for (let i = 0; i < 9; i++) k.fill((BLUR_1D[Math.floor(i / 3)] * BLUR_1D[i % 3]) / 16, i * c, (i + 1) * c);
  return tf.tensor4d(k, [3, 3, c, 1]);
}
const depthwiseBlur: Unary = (x) => tf.tidy(() => tf.depthwiseConv2d(x, blurKernel(x.shape[3]), 1, 1));
/** The blur is its own adjoint: a symmetric kernel with symmetric zero padding. */
const blurLinear: Unary = linearOp(depthwiseBlur, () => blurLinear);
/** 2x2 average pooling; adjoint: nearest 2x up-sampling times 1/4. */
const downLinear: Unary = linearOp(
  (x) => tf.avgPool(x, 2, 2, 'valid'),
  () => (dy) => tf.tidy(() => tf.mul(upLinear(dy), 0.25)),
);
/** Nearest 2x up-sampling; adjoint: 2x2 sum pooling (4 times the average). */
const upLinear: Unary = linearOp(
  (x) => tf.image.resizeNearestNeighbor(x, [2 * x.shape[1], 2 * x.shape[2]]),
  () => (dy) => tf.tidy(() => tf.mul(downLinear(dy), 4)),
);

/**
 * leaky_relu(x, 0.2), twice differentiable: the gradient is dy * m with
 * m = step(x, alpha) (1 where x > 0, else alpha) held constant: m's own
 * derivative is zero almost everywhere, as F.leaky_relu's second derivative.
 * The value is 0.2x + 0.8relu(x), within an ulp of x * m: the reference
 * vectors have pre-activations within 1e-7 of zero, and with x * m one of
 * them lands on the other side (tiny32 loss_ae 8e-3 against 1e-5).
 * A backend may run the forward (value and mask, 5 activation-sized kernels
 * as ops) as one kernel, LEAKY_TWICE, with the same roundings (native:
 * native/leaky_twice.cc); the gradient stays a product with a constant.
 */
export const LEAKY_TWICE = 'AlaeLeakyTwice';
const leakyTwice = tf.customGrad((x, save) => {
  const [value, m] = tf.getKernel(LEAKY_TWICE, tf.getBackend())
    ? (tf.engine().runKernel(LEAKY_TWICE, { x } as unknown as tf.NamedTensorMap) as Tensor[])
    : [tf.add(tf.mul(x as Tensor, 0.2), tf.mul(tf.relu(x as Tensor), 0.8)), tf.step(x as Tensor, 0.2)];
  (save as tf.GradSaveFunc)([m]);
  return { value, gradFunc: (dy, saved) => tf.mul(dy, saved[0]) };
});

export function leakyRelu(x: Tensor, alpha = 0.2): Tensor {
  if (!mode.twice) return tf.leakyRelu(x, alpha);
  if (alpha !== 0.2) throw new Error(`leakyRelu: twice-differentiable form only for alpha 0.2 (got ${alpha})`);
  return leakyTwice(x);
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

/** Blur of net.py: depthwise 3x3 [1,2,1]x[1,2,1]/16 with zero padding 1. */
export function blur(x: Tensor4D): Tensor4D {
  return mode.twice ? blurLinear(x) : depthwiseBlur(x);
}

/** 2x2 average pooling (F.avg_pool2d(x, 2, 2)). */
export function downscale2d(x: Tensor4D): Tensor4D {
  return mode.twice ? downLinear(x) : tf.avgPool(x, 2, 2, 'valid');
}

/**
 * Nearest-neighbour 2x up-sampling (upscale2d of net.py, F.interpolate's
 * default mode). Always the hand-differentiated op: tfjs 4.22's own
 * resizeNearestNeighbor gradient is wrong (test/nn/ops.test.ts).
 */
export function upscale2d(x: Tensor4D): Tensor4D {
  return upLinear(x);
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
  if (!mode.twice) {
    // tfjs's fused conv2d has no gradient for a leaky ReLU: where one is taken, only the bias is fused.
    if (leaky && mode.once) return tf.tidy(() => leakyRelu(tf.fused.conv2d({ x, filter: w, strides: 1, pad: p, bias })) as Tensor4D);
    return tf.fused.conv2d({ x, filter: w, strides: 1, pad: p, bias, activation: leaky ? 'leakyrelu' : 'linear', leakyreluAlpha: 0.2 });
  }
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
