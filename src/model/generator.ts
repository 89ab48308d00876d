/**
 * The generator G (GeneratorDefault of net.py, StyleGAN v1), read top-down:
 * DecodeBlock, ToRGB, then the network with level of detail and blend.
 * Images are NHWC.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import type { ModelConfig } from '../config/config.js';
import { type Differentiation, blur, conv, convUpFused, lerp, linear, upscale2d } from '../nn/ops.js';
import { styleEpilogue } from '../nn/style-epilogue.js';
import { decoderFused } from './params.js';
import type { Weights } from './weights.js';

/** Noise maps in the order the generator draws them: block 0 conv 1, block 0 conv 2, block 1 conv 1, ... */
export type NoiseMaps = Tensor4D[];

/** Shape [n, h, w, 1] of noise map k for a batch of `batch`: the first has batch 1 (drawn while x is still the constant). */
export function noiseShape(k: number, batch: number): [number, number, number, number] {
  const res = 4 * 2 ** Math.floor(k / 2);
  return [k === 0 ? 1 : batch, res, res, 1];
}

/** noise, bias, leaky, instance norm (eps 1e-8), style modulation (one fused op where the backend has it). */
function epilogue(p: Weights, b: string, k: 1 | 2, x: Tensor4D, noise: Tensor4D, style: Tensor, d: Differentiation): Tensor4D {
  const s = linear(style, p(`${b}.style_${k}.weight`), p(`${b}.style_${k}.bias`));
  return styleEpilogue(x, p(`${b}.noise_weight_${k}`), noise, p(`${b}.bias_${k}`), s, d);
}

/** DecodeBlock i: (up-sample + conv_1 + blur for i > 0), epilogue, conv_2, epilogue. */
function decodeBlock(p: Weights, i: number, x: Tensor4D, s1: Tensor, s2: Tensor, n1: Tensor4D, n2: Tensor4D, d: Differentiation): Tensor4D {
  const b = `decoder.decode_block.${i}`;
  let h = x;
  if (i > 0) {
    const w = p(`${b}.conv_1.weight`) as Tensor4D;
    h = blur(decoderFused(i) ? convUpFused(h, w) : conv(upscale2d(h), w, undefined, false, d), d);
  }
  h = epilogue(p, b, 1, h, n1, s1, d);
  h = conv(h, p(`${b}.conv_2.weight`) as Tensor4D, undefined, false, d);
  return epilogue(p, b, 2, h, n2, s2, d);
}

/** ToRGB: 1x1 conv with bias (gain 0.03 lives in the weights' scale). */
function toRgb(p: Weights, i: number, x: Tensor4D, d: Differentiation): Tensor4D {
  const n = `decoder.to_rgb.${i}.to_rgb`;
  return conv(x, p(`${n}.weight`) as Tensor4D, p(`${n}.bias`), false, d);
}

/**
 * G(styles) at level of detail `lod` with `blend` (decode2 of net.py when
 * < 1). `styles` is [N, 2*layerCount, latent]; `noise` holds 2*(lod+1) maps
 * shaped by noiseShape; `d`: how the caller will differentiate the result
 * (nn/ops.ts). Returns images [N, 4*2^lod, 4*2^lod, channels].
 */
export function decode(p: Weights, cfg: ModelConfig, styles: Tensor, lod: number, blend: number, noise: NoiseMaps, d: Differentiation = 'none'): Tensor4D {
  return tf.tidy(() => {
    const n = styles.shape[0];
    const slot = (k: number): Tensor => tf.reshape(tf.slice(styles, [0, k, 0], [n, 1, cfg.latentSize]), [n, cfg.latentSize]);
    let x = p('decoder.const') as Tensor4D;
    let prev: Tensor4D | null = null;
    for (let i = 0; i <= lod; i++) {
      if (i === lod && blend < 1 && lod > 0) prev = toRgb(p, lod - 1, x, d);
      x = decodeBlock(p, i, x, slot(2 * i), slot(2 * i + 1), noise[2 * i], noise[2 * i + 1], d);
    }
    const img = toRgb(p, lod, x, d);
    return prev ? (lerp(upscale2d(prev), img, blend) as Tensor4D) : img;
  });
}
