/**
 * The encoder E (EncoderDefault of net.py), read top-down: FromRGB,
 * EncodeBlock, then the network with its level of detail and blend.
 * Images are NHWC; block 0 works at the highest resolution.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import type { ModelConfig } from '../config/config.js';
import { blur, conv, convDownFused, downscale2d, leakyRelu, lerp, linear } from '../nn/ops.js';
import { instanceStats } from '../nn/instance-stats.js';
import { encoderFused } from './params.js';
import type { Weights } from './weights.js';

/** FromRGB: 1x1 conv with bias, leaky 0.2. */
function fromRgb(p: Weights, i: number, x: Tensor4D): Tensor4D {
  const n = `encoder.from_rgb.${i}.from_rgb`;
  return conv(x, p(`${n}.weight`) as Tensor4D, p(`${n}.bias`), true);
}

/** The style of one statistics pair: style_k(concat(mean, std)). */
function styleOf(p: Weights, name: string, mean: Tensor4D, std: Tensor4D): Tensor {
  const n = mean.shape[0];
  const stats = tf.concat([tf.reshape(mean, [n, -1]), tf.reshape(std, [n, -1])], 1);
  return linear(stats, p(`${name}.weight`), p(`${name}.bias`));
}

/** One statistics pair of an EncodeBlock: per sample and channel, [N, 1, 1, C]. */
export type BlockStats = { mean: Tensor4D; std: Tensor4D };

/**
 * EncodeBlock: conv_1 + bias, leaky, stats -> style_1, instance norm (eps
 * 1e-5); blur, conv_2 (fused stride 2, or conv then 2x2 average), + bias,
 * leaky, stats -> style_2, instance norm.
 */
function encodeBlock(p: Weights, cfg: ModelConfig, i: number, x: Tensor4D): { x: Tensor4D; w1: Tensor; w2: Tensor; s1: BlockStats; s2: BlockStats } {
  const b = `encoder.encode_block.${i}`;
  const s1 = instanceStats(conv(x, p(`${b}.conv_1.weight`) as Tensor4D, p(`${b}.bias_1`), true), 1e-5);
  const w1 = styleOf(p, `${b}.style_1`, s1.mean, s1.std);
  const blurred = blur(s1.normed);
  // avg_pool(conv(x)) + bias = avg_pool(conv(x) + bias): the bias rides in the conv either way.
  const h = encoderFused(cfg, i)
    ? (leakyRelu(tf.add(convDownFused(blurred, p(`${b}.conv_2.weight`) as Tensor4D), p(`${b}.bias_2`))) as Tensor4D)
    : (leakyRelu(downscale2d(conv(blurred, p(`${b}.conv_2.weight`) as Tensor4D, p(`${b}.bias_2`)))) as Tensor4D);
  const s2 = instanceStats(h, 1e-5);
  const w2 = styleOf(p, `${b}.style_2`, s2.mean, s2.std);
  return { x: s2.normed, w1, w2, s1: { mean: s1.mean, std: s1.std }, s2: { mean: s2.mean, std: s2.std } };
}

/** encode2 of net.py; pushes each block's two statistics pairs to `stats` when given. */
function run(p: Weights, cfg: ModelConfig, x: Tensor4D, lod: number, blend: number, stats: BlockStats[] | null): Tensor {
  const L = cfg.layerCount;
  const first = L - lod - 1;
  // The reference applies a second leaky ReLU after FromRGB's own.
  let h = leakyRelu(fromRgb(p, first, x)) as Tensor4D;
  let w: Tensor = tf.zeros([x.shape[0], cfg.latentSize]);
  let start = first;
  if (blend < 1 && lod > 0) {
    const r = encodeBlock(p, cfg, first, h);
    stats?.push(r.s1, r.s2);
    w = tf.add(w, tf.add(tf.mul(r.w1, blend), tf.mul(r.w2, blend)));
    const prev = leakyRelu(fromRgb(p, first + 1, downscale2d(x))) as Tensor4D;
    h = lerp(prev, r.x, blend) as Tensor4D;
    start = first + 1;
  }
  for (let i = start; i < L; i++) {
    const r = encodeBlock(p, cfg, i, h);
    stats?.push(r.s1, r.s2);
    h = r.x;
    w = tf.add(w, tf.add(r.w1, r.w2));
  }
  return w;
}

/**
 * E(x) at level of detail `lod` (0 = 4x4 input ... layerCount-1 = full) with
 * `blend` in (0, 1] for a level being faded in (encode2 of net.py). The
 * input resolution must be 4 * 2^lod. Returns w [N, latent].
 */
export function encode(p: Weights, cfg: ModelConfig, x: Tensor4D, lod: number, blend = 1): Tensor {
  return tf.tidy(() => run(p, cfg, x, lod, blend, null));
}

/**
 * E(x) and the statistics it reads: two pairs per block, highest resolution
 * first (the features a perceptual loss compares; every ALAE encoder has them).
 */
export function encodeWithStats(p: Weights, cfg: ModelConfig, x: Tensor4D, lod: number, blend = 1): { w: Tensor; stats: BlockStats[] } {
  return tf.tidy(() => {
    const stats: BlockStats[] = [];
    const w = run(p, cfg, x, lod, blend, stats);
    return { w, stats };
  });
}
