/**
 * The encoder E (EncoderDefault of net.py), read top-down: FromRGB,
 * EncodeBlock, then the network with its level of detail and blend.
 * Images are NHWC; block 0 works at the highest resolution.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import type { ModelConfig } from '../config/config.js';
import { type Differentiation, blur, conv, convDownFused, downscale2d, leakyRelu, lerp, linear } from '../nn/ops.js';
import { instanceStats } from '../nn/instance-stats.js';
import { encoderFused } from './params.js';
import type { Weights } from './weights.js';

/** FromRGB: 1x1 conv with bias, leaky 0.2. */
function fromRgb(p: Weights, i: number, x: Tensor4D, d: Differentiation): Tensor4D {
  const n = `encoder.from_rgb.${i}.from_rgb`;
  return conv(x, p(`${n}.weight`) as Tensor4D, p(`${n}.bias`), true, d);
}

/** The style of one statistics pair: style_k(concat(mean, std)). */
function styleOf(p: Weights, name: string, stats: Tensor): Tensor {
  return linear(stats, p(`${name}.weight`), p(`${name}.bias`));
}

/**
 * EncodeBlock: conv_1 + bias, leaky, stats -> style_1, instance norm (eps
 * 1e-5); blur, conv_2 (fused stride 2, or conv then 2x2 average), + bias,
 * leaky, stats -> style_2, instance norm.
 */
function encodeBlock(p: Weights, cfg: ModelConfig, i: number, x: Tensor4D, d: Differentiation): { x: Tensor4D; w1: Tensor; w2: Tensor } {
  const b = `encoder.encode_block.${i}`;
  const s1 = instanceStats(conv(x, p(`${b}.conv_1.weight`) as Tensor4D, p(`${b}.bias_1`), true, d), 1e-5, d);
  const w1 = styleOf(p, `${b}.style_1`, s1.stats);
  const blurred = blur(s1.normed, d);
  // avg_pool(conv(x)) + bias = avg_pool(conv(x) + bias): the bias rides in the conv either way.
  const h = encoderFused(cfg, i)
    ? (leakyRelu(convDownFused(blurred, p(`${b}.conv_2.weight`) as Tensor4D), d, p(`${b}.bias_2`)) as Tensor4D)
    : (leakyRelu(downscale2d(conv(blurred, p(`${b}.conv_2.weight`) as Tensor4D, p(`${b}.bias_2`), false, d), d), d) as Tensor4D);
  const s2 = instanceStats(h, 1e-5, d);
  const w2 = styleOf(p, `${b}.style_2`, s2.stats);
  return { x: s2.normed, w1, w2 };
}

/**
 * E(x) at level of detail `lod` (0 = 4x4 input ... layerCount-1 = full) with
 * `blend` in (0, 1] for a level being faded in (encode2 of net.py). The
 * input resolution must be 4 * 2^lod. `d`: how the caller will
 * differentiate the result (nn/ops.ts). Returns w [N, latent].
 */
export function encode(p: Weights, cfg: ModelConfig, x: Tensor4D, lod: number, blend = 1, d: Differentiation = 'none'): Tensor {
  return tf.tidy(() => {
    const L = cfg.layerCount;
    const first = L - lod - 1;
    // The reference applies a second leaky ReLU after FromRGB's own.
    let h = leakyRelu(fromRgb(p, first, x, d), d) as Tensor4D;
    let w: Tensor = tf.zeros([x.shape[0], cfg.latentSize]);
    let start = first;
    if (blend < 1 && lod > 0) {
      const r = encodeBlock(p, cfg, first, h, d);
      w = tf.add(w, tf.add(tf.mul(r.w1, blend), tf.mul(r.w2, blend)));
      const prev = leakyRelu(fromRgb(p, first + 1, downscale2d(x, d), d), d) as Tensor4D;
      h = lerp(prev, r.x, blend) as Tensor4D;
      start = first + 1;
    }
    for (let i = start; i < L; i++) {
      const r = encodeBlock(p, cfg, i, h, d);
      h = r.x;
      w = tf.add(w, tf.add(r.w1, r.w2));
    }
    return w;
  });
}
