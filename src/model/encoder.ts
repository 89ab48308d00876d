/**
 * The encoder E (EncoderDefault of net.py), read top-down: FromRGB,
 * EncodeBlock (each with its parameters declared beside it), then the
 * network with its level of detail and blend. Images are NHWC; block 0
 * works at the highest resolution.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { type ModelConfig, encoderChannels } from '../config/config.js';
import { type Differentiation, downscale2d, leakyRelu, lerp, sumAll } from '../nn/ops.js';
import { linear } from '../nn/linear.js';
import { instanceStats, instanceStatsBlurred } from '../nn/instance-stats.js';
import { convBiasLeaky, convDownBiasLeaky } from '../nn/conv-leaky.js';
import { type Blocks, usedBlocks } from './levels.js';
import { type LinearParams, type ParamSpec, Scope, specsOf } from './lreq.js';
import type { Weights } from './weights.js';

/** FromRGB i's parameters: a 1x1 conv with bias, image channels to block i's input channels. */
function fromRgbParams(cfg: ModelConfig, i: number) {
  const s = new Scope('encoder', `from_rgb.${i}`);
  return { fromRgb: s.convBias('from_rgb', cfg.channels, encoderChannels(cfg, i)[0], 1) };
}

/** FromRGB: 1x1 conv with bias, leaky 0.2. */
function fromRgb(p: Weights, cfg: ModelConfig, i: number, x: Tensor4D, d: Differentiation): Tensor4D {
  const P = fromRgbParams(cfg, i);
  return convBiasLeaky(x, p(P.fromRgb.weight) as Tensor4D, p(P.fromRgb.bias), d);
}

/** Is encoder block i's down-sampling fused (stride-2 conv)? Block i's input resolution is 2^(L+1-i). */
function encoderFused(cfg: ModelConfig, i: number): boolean {
  return 2 ** (cfg.layerCount + 1 - i) >= 128;
}

/** EncodeBlock i's parameters (its own biases first, then its modules, as the reference's state_dict). */
function encodeBlockParams(cfg: ModelConfig, i: number) {
  const [inC, outC] = encoderChannels(cfg, i);
  const s = new Scope('encoder', `encode_block.${i}`);
  return {
    bias1: s.channel('bias_1', inC),
    bias2: s.channel('bias_2', outC),
    conv1: s.conv('conv_1', inC, inC, 3),
    conv2: s.conv('conv_2', inC, outC, 3),
    style1: s.linear('style_1', 2 * inC, cfg.latentSize),
    style2: s.linear('style_2', 2 * outC, cfg.latentSize),
  };
}

/** A statistics pair [N, 2C] (means, then stds) and the style linear it feeds (style_k(concat(mean, std))). */
interface BlockStats {
  stats: Tensor;
  style: LinearParams;
}

/**
 * The sum of the styles of several statistics pairs, as one product: their
 * statistics side by side times their weights stacked, plus the biases'
 * sum (one product and its gradient instead of one per style; a GPU runs
 * each as a dispatch).
 */
function stylesOf(p: Weights, all: BlockStats[], d: Differentiation): Tensor {
  if (all.length === 1) return linear(all[0].stats, p(all[0].style.weight), p(all[0].style.bias), d);
  return tf.tidy(() => linear(tf.concat(all.map((s) => s.stats), 1), tf.concat(all.map((s) => p(s.style.weight)), 0), sumAll(all.map((s) => p(s.style.bias))), d));
}

/**
 * EncodeBlock: conv_1 + bias, leaky, stats -> style_1, instance norm (eps
 * 1e-5); blur, conv_2 (fused stride 2, or conv then 2x2 average), + bias,
 * leaky, stats -> style_2, instance norm. Returns the statistics with their
 * style linears: the caller sums every block's styles in one product (stylesOf).
 */
function encodeBlock(p: Weights, cfg: ModelConfig, i: number, x: Tensor4D, d: Differentiation): { x: Tensor4D; styles: BlockStats[] } {
  const P = encodeBlockParams(cfg, i);
  // normed is used only blurred: one kernel where the backend has it (nn/instance-stats.ts).
  const { blurred, stats: stats1 } = instanceStatsBlurred(convBiasLeaky(x, p(P.conv1.weight) as Tensor4D, p(P.bias1), d), 1e-5, d);
  const h = convDownBiasLeaky(blurred, p(P.conv2.weight) as Tensor4D, p(P.bias2), d, encoderFused(cfg, i));
  const s2 = instanceStats(h, 1e-5, d);
  return { x: s2.normed, styles: [{ stats: stats1, style: P.style1 }, { stats: s2.stats, style: P.style2 }] };
}

/** E's parameters of the given blocks, in the reference's state_dict order: every from_rgb, then every encode_block. */
export function encoderParams(cfg: ModelConfig, blocks: Blocks): ParamSpec[] {
  return [...blocks.fromRgb.flatMap((i) => specsOf(fromRgbParams(cfg, i))), ...blocks.encodeBlocks.flatMap((i) => specsOf(encodeBlockParams(cfg, i)))];
}

/** encode2 of net.py; pushes each block's two statistics ([N, 2C]: means, then stds) to `stats` when given. */
function run(p: Weights, cfg: ModelConfig, x: Tensor4D, lod: number, blend: number, d: Differentiation, stats: Tensor[] | null): Tensor {
  const use = usedBlocks(cfg, lod, blend);
  // The reference applies a second leaky ReLU after FromRGB's own.
  let h = leakyRelu(fromRgb(p, cfg, use.fromRgb[0], x, d), d) as Tensor4D;
  // Every block's two styles, summed in one product at the end (the block being faded in apart, times blend).
  const styles: BlockStats[] = [];
  let faded: Tensor | null = null;
  let blocks = use.encodeBlocks;
  if (use.fading) {
    const r = encodeBlock(p, cfg, blocks[0], h, d);
    stats?.push(...r.styles.map((s) => s.stats));
    faded = tf.mul(stylesOf(p, r.styles, d), blend);
    const prev = leakyRelu(fromRgb(p, cfg, use.fromRgb[1], downscale2d(x, d), d), d) as Tensor4D;
    h = lerp(prev, r.x, blend) as Tensor4D;
    blocks = blocks.slice(1);
  }
  for (const i of blocks) {
    const r = encodeBlock(p, cfg, i, h, d);
    stats?.push(...r.styles.map((s) => s.stats));
    h = r.x;
    styles.push(...r.styles);
  }
  if (styles.length === 0) return faded as Tensor;
  const w = stylesOf(p, styles, d);
  return faded ? tf.add(faded, w) : w;
}

/**
 * E(x) at level of detail `lod` (0 = 4x4 input ... layerCount-1 = full) with
 * `blend` in (0, 1] for a level being faded in (encode2 of net.py). The
 * input resolution must be 4 * 2^lod. `d`: how the caller will
 * differentiate the result (nn/ops.ts). Returns w [N, latent].
 */
export function encode(p: Weights, cfg: ModelConfig, x: Tensor4D, lod: number, blend = 1, d: Differentiation = 'none'): Tensor {
  return tf.tidy(() => run(p, cfg, x, lod, blend, d, null));
}

/**
 * E(x) and the statistics it reads: per block two [N, 2C] (each sample's
 * channel means, then stds), highest resolution first; the features a
 * perceptual loss compares (every ALAE encoder has them).
 */
export function encodeWithStats(p: Weights, cfg: ModelConfig, x: Tensor4D, lod: number, blend = 1, d: Differentiation = 'none'): { w: Tensor; stats: Tensor[] } {
  return tf.tidy(() => {
    const stats: Tensor[] = [];
    const w = run(p, cfg, x, lod, blend, d, stats);
    return { w, stats };
  });
}
