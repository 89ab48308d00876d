/**
 * The primitives of the ALAE networks, in NHWC. How a caller will
 * differentiate what they compute picks their form, passed down explicitly
 * as a `Differentiation` (the caller knows; an op cannot):
 * - 'none' (inference): one tfjs kernel each where tfjs has one (leakyRelu,
 *   depthwise blur, avgPool, fused conv + bias + activation), since every
 *   op is a dispatch on a GPU;
 * - 'once' (training's parameter gradients) and 'twice' (R1's inner
 *   gradient, which the outer gradient differentiates again): the
 *   twice-differentiable forms. tfjs's leakyRelu, depthwiseConv2d and
 *   avgPool double backprop throws. Convolutions, matMul and arithmetic are
 *   differentiated by tfjs (their second derivatives are right); blur,
 *   pooling, up-sampling and the leaky ReLU are customGrad ops whose
 *   gradients are written out in ops that can be differentiated again (one
 *   or two kernels each instead of the 4-10 of pad/slice/reshape
 *   formulations). Training runs them in all three steps, not only where R1
 *   needs them: the fast forms round differently and put pre-activations
 *   near zero on the other side of a leaky-ReLU kink more often
 *   (train/losses.ts).
 * 'twice' also leaves out fused kernels whose gradient the backend cannot
 * differentiate again (nn/instance-stats.ts). Both forms compute the same function, first and second
 * derivatives are checked (test/nn/ops.test.ts, test/losses), and both pass
 * parity.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';

/** How the caller will differentiate an op's result (see the module doc). */
export type Differentiation = 'none' | 'once' | 'twice';

/** Does `d` call for the twice-differentiable forms? */
const twiceForms = (d: Differentiation): boolean => d !== 'none';

/** Does the active backend register `name` (backend/kernel-adapter.ts)? */
export const hasKernel = (name: string): boolean => tf.getKernel(name, tf.getBackend()) !== undefined;

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
/**
 * Kernel names a backend may register: UPSAMPLE, nearest 2x up-sampling
 * times attr scale; DOWNSAMPLE, 2x2 average pooling times attr scale. The op
 * chains are tfjs's resize or pooling, then a multiply where scale is not 1.
 */
export const UPSAMPLE = 'AlaeUpsample2x';
export const DOWNSAMPLE = 'AlaeDownsample2x';

function scaled(kernel: string, x: Tensor4D, scale: number, chain: (x: Tensor4D) => Tensor4D): Tensor4D {
  if (hasKernel(kernel)) return tf.engine().runKernel(kernel, { x } as unknown as tf.NamedTensorMap, { scale }) as Tensor4D;
  return scale === 1 ? chain(x) : tf.tidy(() => tf.mul(chain(x), scale) as Tensor4D);
}

const ups = new Map<number, Unary>(), downs = new Map<number, Unary>();
/** scale times nearest 2x up-sampling; adjoint: scale times the 2x2 sum, i.e. 4 scale times the 2x2 average. */
function upLinear(scale: number): Unary {
  let op = ups.get(scale);
  if (!op) {
    op = linearOp((x) => scaled(UPSAMPLE, x, scale, (t) => tf.image.resizeNearestNeighbor(t, [2 * t.shape[1], 2 * t.shape[2]])), () => downLinear(4 * scale));
    ups.set(scale, op);
  }
  return op;
}
/** scale times 2x2 average pooling; adjoint: scale / 4 times nearest 2x up-sampling. */
function downLinear(scale: number): Unary {
  let op = downs.get(scale);
  if (!op) {
    op = linearOp((x) => scaled(DOWNSAMPLE, x, scale, (t) => tf.avgPool(t, 2, 2, 'valid')), () => upLinear(scale / 4));
    downs.set(scale, op);
  }
  return op;
}

/**
 * leaky_relu(x, 0.2), twice differentiable: the gradient is dy * m with
 * m = step(x, alpha) (1 where x > 0, else alpha) held constant: m's own
 * derivative is zero almost everywhere, as F.leaky_relu's second derivative.
 * The value is 0.2x + 0.8relu(x), within an ulp of x * m: the reference
 * vectors have pre-activations within 1e-7 of zero, and with x * m one of
 * them lands on the other side (tiny32 loss_ae 8e-3 against 1e-5).
 *
 * The mask is not kept: it is read off the value, m = step(y, alpha), since
 * y > 0 exactly where x > 0 (x > 0: the rounded 0.8x is at least the
 * smallest subnormal, so y > 0; x = +-0 gives y = +0; x < 0 gives y =
 * round(0.2x) <= 0, -0 for the smallest subnormals; NaN stays NaN). The
 * value is kept anyway (the next op, instance statistics or a linear, saves
 * its input), so the gradient costs no activation-sized tensor of its own.
 * (A device that flushes subnormal results to zero could turn a y of x in
 * (0, 1.5e-38) to 0 and give that x the mask 0.2: the tests check
 * subnormals against the mask of x on each backend.)
 *
 * A backend may run the forward (4 activation-sized kernels as ops) as one
 * kernel, LEAKY_TWICE (x -> value), with the same roundings (native:
 * native/kernels/leaky_twice.cc), and leaky_relu(x + bias) as
 * BIAS_LEAKY_TWICE (x and bias, the add rounded as tf.add's); and the
 * gradient dy * step(y, alpha) as LEAKY_GRAD (dy, y -> dx).
 */
export const LEAKY_TWICE = 'AlaeLeakyTwice';
export const BIAS_LEAKY_TWICE = 'AlaeBiasLeakyTwice';
export const LEAKY_GRAD = 'AlaeLeakyGrad';

/** The value of leaky_relu(x + bias) (bias along the last axis, optional). */
function leakyTwiceForward(x: Tensor, bias?: Tensor): Tensor {
  if (bias && hasKernel(BIAS_LEAKY_TWICE)) return tf.engine().runKernel(BIAS_LEAKY_TWICE, { x, bias } as unknown as tf.NamedTensorMap) as Tensor;
  return tf.tidy(() => {
    const h = bias ? tf.add(x, bias) : x;
    if (hasKernel(LEAKY_TWICE)) return tf.engine().runKernel(LEAKY_TWICE, { x: h } as unknown as tf.NamedTensorMap) as Tensor;
    return tf.add(tf.mul(h, 0.2), tf.mul(tf.relu(h), 0.8));
  });
}

/** The gradient mask read off the value y (see leakyTwice): 1 where y > 0, else 0.2, NaN where y is NaN. */
const leakyMask = (y: Tensor): Tensor => tf.step(y, 0.2);

/**
 * dy * step(y, 0.2), itself differentiable: linear in dy (its gradient is
 * the same product), y a constant: the forward's saved copy of its value,
 * which is off the tape's path from the variables, so no gradient is asked of it.
 */
export function leakyGrad(dy: Tensor, y: Tensor): Tensor {
  if (hasKernel(LEAKY_GRAD)) return tf.engine().runKernel(LEAKY_GRAD, { dy, y } as unknown as tf.NamedTensorMap) as Tensor;
  const op = tf.customGrad((g, save) => {
    (save as tf.GradSaveFunc)([y]);
    return { value: tf.mul(g as Tensor, leakyMask(y)), gradFunc: (dd, saved) => leakyGrad(dd as Tensor, saved[0]) };
  });
  return op(dy) as Tensor;
}
if (!tf.getGradient(LEAKY_GRAD)) {
  tf.registerGradient({
    kernelName: LEAKY_GRAD,
    inputsToSave: ['y'],
    gradFunc: (dd, saved) => ({ dy: () => leakyGrad(dd as Tensor, saved[0]), y: () => tf.zerosLike(saved[0]) }),
  });
}

const leakyTwice = tf.customGrad((x, save) => {
  const value = leakyTwiceForward(x as Tensor);
  (save as tf.GradSaveFunc)([value]);
  return { value, gradFunc: (dy, saved) => leakyGrad(dy as Tensor, saved[0]) };
});
/**
 * Kernel names a backend may register: BIAS_LEAKY_GRAD, biasLeakyTwice's
 * gradient as one kernel (dy, y [..., C] -> dx = dy * step(y, 0.2) and db [C], dx
 * summed over every axis but the last), and BIAS_LEAKY_GRAD_GRAD, its
 * gradient for R1 (ddx, ddb, y -> ddy = (ddx + ddb) * step(y, 0.2)); the chains
 * are leakyGrad, tf.sum and their gradients.
 */
export const BIAS_LEAKY_GRAD = 'AlaeBiasLeakyGrad';
export const BIAS_LEAKY_GRAD_GRAD = 'AlaeBiasLeakyGradGrad';

// The gradient of the fused gradient kernel (R1's outer gradient through its inner one); y is
// a constant of the op (the mask's own derivative is zero almost everywhere).
if (!tf.getGradient(BIAS_LEAKY_GRAD)) {
  tf.registerGradient({
    kernelName: BIAS_LEAKY_GRAD,
    inputsToSave: ['y'],
    gradFunc: (dys, saved) => {
      const [ddx, ddb] = dys as Tensor[];
      const [y] = saved;
      return {
        dy: () => [tf.engine().runKernel(BIAS_LEAKY_GRAD_GRAD, { ddx, ddb, y } as unknown as tf.NamedTensorMap) as Tensor | Tensor[]].flat()[0],
        y: () => tf.zerosLike(y),
      };
    },
  });
}

/** leaky_relu(x + bias), twice differentiable: the bias's gradient is the sum of x's over the broadcast axes, as tf.add's. */
const biasLeakyTwice = tf.customGrad((x, bias, save) => {
  const value = leakyTwiceForward(x as Tensor, bias as Tensor);
  (save as tf.GradSaveFunc)([value]);
  return {
    value,
    gradFunc: (dy, saved) => {
      const b = bias as Tensor;
      const lastAxis = b.size === dy.shape[dy.rank - 1] && b.rank === 1;
      if (lastAxis && hasKernel(BIAS_LEAKY_GRAD) && hasKernel(BIAS_LEAKY_GRAD_GRAD)) {
        return tf.engine().runKernel(BIAS_LEAKY_GRAD, { dy, y: saved[0] } as unknown as tf.NamedTensorMap) as Tensor[];
      }
      const dx = leakyGrad(dy, saved[0]);
      const axes = tf.backend_util.getReductionAxes(b.shape, dx.shape);
      return [dx, tf.reshape(axes.length > 0 ? tf.sum(dx, axes) : dx, b.shape)];
    },
  };
});

/** leaky_relu(x + bias, 0.2), the bias (along the last axis) optional; in a training form, the add rides in the leaky ReLU's kernel. */
export function leakyRelu(x: Tensor, d: Differentiation = 'none', bias?: Tensor): Tensor {
  if (twiceForms(d)) return bias ? biasLeakyTwice(x, bias) : leakyTwice(x);
  return bias ? tf.tidy(() => tf.leakyRelu(tf.add(x, bias), 0.2)) : tf.leakyRelu(x, 0.2);
}

/**
 * Kernel name a backend may register: PIXEL_NORM, pixelNorm's value with the
 * chain's roundings (attr eps). Its gradient is written out in ops (mapping
 * F's input is constant: training never asks for it).
 */
export const PIXEL_NORM = 'AlaePixelNorm';

const pixelNormChain = (x: Tensor, eps: number): Tensor =>
  tf.tidy(() => tf.div(x, tf.sqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))));

/** pixel_norm of net.py: x * rsqrt(mean(x^2, features) + eps). */
export function pixelNorm(x: Tensor, eps = 1e-8): Tensor {
  if (!hasKernel(PIXEL_NORM)) return pixelNormChain(x, eps);
  const op = tf.customGrad((xi, save) => {
    (save as tf.GradSaveFunc)([xi as Tensor]);
    return {
      value: tf.engine().runKernel(PIXEL_NORM, { x: xi } as unknown as tf.NamedTensorMap, { eps }) as Tensor,
      // d(x / r)/dx with r = sqrt(mean(x^2) + eps): dy / r - x sum(dy x) / (M r^3).
      gradFunc: (dy, saved) => {
        const [v] = saved;
        const r = tf.sqrt(tf.add(tf.mean(tf.square(v), -1, true), eps));
        const k = tf.div(tf.sum(tf.mul(dy as Tensor, v), -1, true), tf.mul(tf.pow(r, 3), v.shape[v.rank - 1]));
        return tf.sub(tf.div(dy as Tensor, r), tf.mul(v, k));
      },
    };
  });
  return op(x) as Tensor;
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
export function blur(x: Tensor4D, d: Differentiation = 'none'): Tensor4D {
  return twiceForms(d) ? blurLinear(x) : depthwiseBlur(x);
}

/** 2x2 average pooling (F.avg_pool2d(x, 2, 2)). */
export function downscale2d(x: Tensor4D, d: Differentiation = 'none'): Tensor4D {
  return twiceForms(d) ? downLinear(1)(x) : tf.avgPool(x, 2, 2, 'valid');
}

/**
 * Nearest-neighbour 2x up-sampling (upscale2d of net.py, F.interpolate's
 * default mode). Always the hand-differentiated op: tfjs 4.22's own
 * resizeNearestNeighbor gradient is wrong (test/nn/ops.test.ts).
 */
export function upscale2d(x: Tensor4D): Tensor4D {
  return upLinear(1)(x);
}

/**
 * The sum of same-shaped tensors, added left to right: one addN (on webgpu as many inputs a
 * dispatch as the device binds, backend/webgpu/pieces.ts) instead of an add each. Its gradient
 * hands dy to every input, no kernel.
 */
export function sumAll(ts: Tensor[]): Tensor {
  if (ts.length === 0) throw new Error('sumAll: no tensors');
  return tf.addN(ts);
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
export function conv(x: Tensor4D, w: Tensor4D, bias?: Tensor, leaky = false, d: Differentiation = 'none'): Tensor4D {
  const pad = (w.shape[0] - 1) / 2;
  const p = pad === 0 ? 'valid' : pad;
  if (!twiceForms(d)) return tf.fused.conv2d({ x, filter: w, strides: 1, pad: p, bias, activation: leaky ? 'leakyrelu' : 'linear', leakyreluAlpha: 0.2 });
  return tf.tidy(() => {
    const y: Tensor = tf.conv2d(x, w, 1, p);
    if (leaky) return leakyRelu(y, d, bias) as Tensor4D;
    return (bias ? tf.add(y, bias) : y) as Tensor4D;
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
