/**
 * The generator G (GeneratorDefault of net.py, StyleGAN v1), read top-down:
 * DecodeBlock, ToRGB (each with its parameters declared beside it), then
 * the network with level of detail and blend. Images are NHWC.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { type ModelConfig, decoderChannels } from '../config/config.js';
import { type Differentiation, conv, convUpFused, lerp, upscale2d } from '../nn/ops.js';
import { linear } from '../nn/linear.js';
import { convUp } from '../nn/conv-resample.js';
import { styleEpilogue } from '../nn/style-epilogue.js';
import { type Blocks, usedBlocks } from './levels.js';
import { type LinearParams, type ParamSpec, Scope, specsOf } from './lreq.js';
import type { Weights } from './weights.js';

/** Noise maps in the order the generator draws them: block 0 conv 1, block 0 conv 2, block 1 conv 1, ... */
export type NoiseMaps = Tensor4D[];

/** Shape [n, h, w, 1] of noise map k for a batch of `batch`: the first has batch 1 (drawn while x is still the constant). */
export function noiseShape(k: number, batch: number): [number, number, number, number] {
  const res = 4 * 2 ** Math.floor(k / 2);
  return [k === 0 ? 1 : batch, res, res, 1];
}

/** The constant input of block 0, [1, C, 4, 4] in the reference. */
function constParams(cfg: ModelConfig) {
  return { const: new Scope('decoder', '').param('const', [1, decoderChannels(cfg, 0), 4, 4], 'nchw', { kind: 'ones' }) };
}

/** Is generator block i's up-sampling fused (stride-2 transposed conv)? Block i works at 4 * 2^i. */
function decoderFused(i: number): boolean {
  return i > 0 && 4 * 2 ** i >= 128;
}

/** DecodeBlock i's parameters (its own noise weights and biases first, then its modules, as the reference's state_dict). */
function decodeBlockParams(cfg: ModelConfig, i: number) {
  const outC = decoderChannels(cfg, i);
  const inC = i === 0 ? outC : decoderChannels(cfg, i - 1);
  const s = new Scope('decoder', `decode_block.${i}`);
  return {
    noiseWeight1: s.channel('noise_weight_1', outC),
    bias1: s.channel('bias_1', outC),
    noiseWeight2: s.channel('noise_weight_2', outC),
    bias2: s.channel('bias_2', outC),
    ...(i > 0 ? { conv1: s.conv('conv_1', inC, outC, 3, { transpose: decoderFused(i) }) } : {}),
    style1: s.linear('style_1', cfg.latentSize, 2 * outC, 1),
    conv2: s.conv('conv_2', outC, outC, 3),
    style2: s.linear('style_2', cfg.latentSize, 2 * outC, 1),
  };
}

/**
 * noise, bias, leaky, instance norm (eps 1e-8), style modulation by `s`, the style linear's output (one fused op where the backend has it),
 * after a blur where `blurFirst`.
 */
function epilogue(p: Weights, P: { noiseWeight: ParamSpec; bias: ParamSpec }, x: Tensor4D, noise: Tensor4D, s: Tensor, d: Differentiation, blurFirst = false): Tensor4D {
  return styleEpilogue(x, p(P.noiseWeight), noise, p(P.bias), s, d, { blurFirst });
}

/**
 * The style linears of the used blocks (style_1, style_2 of each), slot k ->
 * style_k(styles[k]). Slots that hold one tensor (training's w, or w2 past
 * the mixing cutoff) go through one product: their weights side by side, the
 * result split (one product and its gradient instead of one per slot).
 */
function styleLinears(p: Weights, linears: Map<number, LinearParams>, slot: (k: number) => Tensor, shared: boolean, d: Differentiation): Map<number, Tensor> {
  const groups = new Map<Tensor | number, number[]>();
  for (const k of linears.keys()) {
    const key = shared ? slot(k) : k;
    groups.set(key, [...(groups.get(key) ?? []), k]);
  }
  const out = new Map<number, Tensor>();
  for (const ks of groups.values()) {
    const ls = ks.map((k) => linears.get(k)!);
    if (ks.length === 1) {
      out.set(ks[0], linear(slot(ks[0]), p(ls[0].weight), p(ls[0].bias), d));
      continue;
    }
    const s = linear(slot(ks[0]), tf.concat(ls.map((l) => p(l.weight)), 1), tf.concat(ls.map((l) => p(l.bias))), d);
    tf.split(s, ls.map((l) => l.bias.shape[0]), 1).forEach((t, j) => out.set(ks[j], t));
  }
  return out;
}

/** DecodeBlock i: (up-sample + conv_1 + blur for i > 0), epilogue, conv_2, epilogue; s1, s2: its style linears' outputs. */
function decodeBlock(p: Weights, cfg: ModelConfig, i: number, x: Tensor4D, s1: Tensor, s2: Tensor, n1: Tensor4D, n2: Tensor4D, d: Differentiation): Tensor4D {
  const P = decodeBlockParams(cfg, i);
  let h = x;
  if (P.conv1) {
    const w = p(P.conv1.weight) as Tensor4D;
    h = decoderFused(i) ? convUpFused(h, w) : convUp(h, w, d);
  }
  // conv_1's output is blurred, in the epilogue's kernel where the backend has it (nn/style-epilogue.ts).
  h = epilogue(p, { noiseWeight: P.noiseWeight1, bias: P.bias1 }, h, n1, s1, d, !!P.conv1);
  h = conv(h, p(P.conv2.weight) as Tensor4D, undefined, false, d);
  return epilogue(p, { noiseWeight: P.noiseWeight2, bias: P.bias2 }, h, n2, s2, d);
}

/** ToRGB i's parameters: a 1x1 conv with bias, gain 0.03. */
function toRgbParams(cfg: ModelConfig, i: number) {
  const s = new Scope('decoder', `to_rgb.${i}`);
  return { toRgb: s.convBias('to_rgb', decoderChannels(cfg, i), cfg.channels, 1, { gain: 0.03 }) };
}

/** ToRGB: 1x1 conv with bias (gain 0.03 lives in the weights' scale). */
function toRgb(p: Weights, cfg: ModelConfig, i: number, x: Tensor4D, d: Differentiation): Tensor4D {
  const P = toRgbParams(cfg, i);
  return conv(x, p(P.toRgb.weight) as Tensor4D, p(P.toRgb.bias), false, d);
}

/** G's parameters of the given blocks, in the reference's state_dict order: const, every decode_block, every to_rgb. */
export function generatorParams(cfg: ModelConfig, blocks: Blocks): ParamSpec[] {
  return [
    ...specsOf(constParams(cfg)),
    ...blocks.decodeBlocks.flatMap((i) => specsOf(decodeBlockParams(cfg, i))),
    ...blocks.toRgb.flatMap((i) => specsOf(toRgbParams(cfg, i))),
  ];
}

/**
 * G(styles) at level of detail `lod` with `blend` (decode2 of net.py when
 * < 1). `styles` is [N, 2*layerCount, latent], or one [N, latent] per slot
 * (no slice per slot, nor its gradient's pad and add); `noise` holds 2*(lod+1) maps
 * shaped by noiseShape; `d`: how the caller will differentiate the result
 * (nn/ops.ts). Returns images [N, 4*2^lod, 4*2^lod, channels].
 */
export function decode(p: Weights, cfg: ModelConfig, styles: Tensor | Tensor[], lod: number, blend: number, noise: NoiseMaps, d: Differentiation = 'none'): Tensor4D {
  return tf.tidy(() => {
    const slot = (k: number): Tensor => {
      if (Array.isArray(styles)) return styles[k];
      const n = styles.shape[0];
      return tf.reshape(tf.slice(styles, [0, k, 0], [n, 1, cfg.latentSize]), [n, cfg.latentSize]);
    };
    const use = usedBlocks(cfg, lod, blend);
    const linears = new Map<number, LinearParams>();
    for (const i of use.decodeBlocks) {
      const P = decodeBlockParams(cfg, i);
      linears.set(2 * i, P.style1).set(2 * i + 1, P.style2);
    }
    const s = styleLinears(p, linears, slot, Array.isArray(styles), d);
    let x = p(constParams(cfg).const) as Tensor4D;
    let prev: Tensor4D | null = null;
    for (const i of use.decodeBlocks) {
      if (use.fading && i === lod) prev = toRgb(p, cfg, use.toRgb[1], x, d);
      x = decodeBlock(p, cfg, i, x, s.get(2 * i)!, s.get(2 * i + 1)!, noise[2 * i], noise[2 * i + 1], d);
    }
    const img = toRgb(p, cfg, use.toRgb[0], x, d);
    return prev ? (lerp(upscale2d(prev), img, blend) as Tensor4D) : img;
  });
}
