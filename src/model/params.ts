/**
 * The parameter table: every trainable tensor of the four networks, named
 * exactly as the reference's state_dict names it (prefixed by network), with
 * its shape in PyTorch's layout, the permutation to our NHWC/HWIO layout,
 * its equalized-learning-rate coefficient and its initial value rule.
 *
 * The checkpoint import (io/import.ts), the optimizer (train/) and model
 * initialisation all read this one table, so they cannot disagree.
 */
import { type ModelConfig, decoderChannels, encoderChannels, styleCount } from '../config/config.js';

/** Our four networks, named as in the reference's Model class. */
export type NetworkName = 'encoder' | 'decoder' | 'mapping_d' | 'mapping_f';
export const NETWORKS: readonly NetworkName[] = ['encoder', 'mapping_d', 'decoder', 'mapping_f'];

/**
 * How a tensor goes from the checkpoint to our layout:
 * - 'conv':   OIHW -> HWIO (permute 2,3,1,0)
 * - 'convT':  [in, out, kh, kw] -> [kh, kw, out, in] (permute 2,3,1,0: tfjs conv2dTranspose)
 * - 'linear': [out, in] -> [in, out] (permute 1,0)
 * - 'chan':   [1, C, 1, 1] -> [C] (reshape)
 * - 'nchw':   [1, C, H, W] -> [1, H, W, C] (permute 0,2,3,1)
 * - 'same':   no change
 */
export type Layout = 'conv' | 'convT' | 'linear' | 'chan' | 'nchw' | 'same';

export type Init = { kind: 'normal'; std: number } | { kind: 'zeros' } | { kind: 'ones' };

export interface ParamSpec {
  /** Reference name with our network prefix, e.g. `encoder.encode_block.0.conv_1.weight`. */
  name: string;
  network: NetworkName;
  /** Shape as the reference stores it. */
  torchShape: number[];
  /** Shape in our layout. */
  shape: number[];
  layout: Layout;
  /** lr_equalization_coef of lreq.py: gain / sqrt(fan_in) * lrmul for weights, lrmul for biases, 1 for plain parameters. */
  coef: number;
  init: Init;
}

/** The reference checkpoint's model names for our networks. */
export const CHECKPOINT_NAMES: Record<NetworkName, string> = {
  encoder: 'discriminator',
  decoder: 'generator',
  mapping_d: 'mapping_tl',
  mapping_f: 'mapping_fl',
};

export function toOurShape(torchShape: number[], layout: Layout): number[] {
  const s = torchShape;
  switch (layout) {
    case 'conv':
    case 'convT':
      return [s[2], s[3], s[1], s[0]];
    case 'linear':
      return [s[1], s[0]];
    case 'chan':
      return [s[1]];
    case 'nchw':
      return [s[0], s[2], s[3], s[1]];
    case 'same':
      return [...s];
  }
}

const SQRT2 = Math.SQRT2;

/** Build the table in the reference's state_dict order (parameters only; buffers apart). */
export function paramSpecs(cfg: ModelConfig): ParamSpec[] {
  const out: ParamSpec[] = [];
  const add = (network: NetworkName, name: string, torchShape: number[], layout: Layout, coef: number, init: Init): void => {
    out.push({ name: `${network}.${name}`, network, torchShape, shape: toOurShape(torchShape, layout), layout, coef, init });
  };
  // lreq.Linear / lreq.Conv2d: weight init N(0, gain/sqrt(fan_in)), coef gain/sqrt(fan_in)*lrmul; bias 0, coef lrmul.
  const linear = (net: NetworkName, name: string, inF: number, outF: number, gain = SQRT2, lrmul = 1): void => {
    const std = gain / Math.sqrt(inF);
    add(net, `${name}.weight`, [outF, inF], 'linear', std * lrmul, { kind: 'normal', std });
    add(net, `${name}.bias`, [outF], 'same', lrmul, { kind: 'zeros' });
  };
  const conv = (net: NetworkName, name: string, inC: number, outC: number, k: number, bias: boolean, gain = SQRT2, transpose = false): void => {
    const std = gain / Math.sqrt(k * k * inC);
    add(net, `${name}.weight`, transpose ? [inC, outC, k, k] : [outC, inC, k, k], transpose ? 'convT' : 'conv', std, { kind: 'normal', std });
    if (bias) add(net, `${name}.bias`, [outC], 'same', 1, { kind: 'zeros' });
  };
  const L = cfg.layerCount;
  const latent = cfg.latentSize;

  // E (EncoderDefault): from_rgb per level, then the blocks.
  for (let i = 0; i < L; i++) conv('encoder', `from_rgb.${i}.from_rgb`, cfg.channels, encoderChannels(cfg, i)[0], 1, true);
  for (let i = 0; i < L; i++) {
    const [inC, outC] = encoderChannels(cfg, i);
    const b = `encode_block.${i}`;
    add('encoder', `${b}.bias_1`, [1, inC, 1, 1], 'chan', 1, { kind: 'zeros' });
    add('encoder', `${b}.bias_2`, [1, outC, 1, 1], 'chan', 1, { kind: 'zeros' });
    conv('encoder', `${b}.conv_1`, inC, inC, 3, false);
    conv('encoder', `${b}.conv_2`, inC, outC, 3, false);
    linear('encoder', `${b}.style_1`, 2 * inC, latent);
    linear('encoder', `${b}.style_2`, 2 * outC, latent);
  }
  // D (MappingD): 3 linear layers, lrmul 0.1, last with 2*latent outputs.
  for (let i = 0; i < 3; i++) linear('mapping_d', `map_blocks.${i}`, latent, i === 2 ? 2 * latent : latent, SQRT2, 0.1);
  // G (Generator).
  add('decoder', 'const', [1, decoderChannels(cfg, 0), 4, 4], 'nchw', 1, { kind: 'ones' });
  let resolution = 2;
  for (let i = 0; i < L; i++) {
    const outC = decoderChannels(cfg, i);
    const inC = i === 0 ? outC : decoderChannels(cfg, i - 1);
    const fused = resolution * 2 >= 128;
    resolution *= 2;
    const b = `decode_block.${i}`;
    add('decoder', `${b}.noise_weight_1`, [1, outC, 1, 1], 'chan', 1, { kind: 'zeros' });
    add('decoder', `${b}.bias_1`, [1, outC, 1, 1], 'chan', 1, { kind: 'zeros' });
    add('decoder', `${b}.noise_weight_2`, [1, outC, 1, 1], 'chan', 1, { kind: 'zeros' });
    add('decoder', `${b}.bias_2`, [1, outC, 1, 1], 'chan', 1, { kind: 'zeros' });
    if (i > 0) conv('decoder', `${b}.conv_1`, inC, outC, 3, false, SQRT2, fused);
    linear('decoder', `${b}.style_1`, latent, 2 * outC, 1);
    conv('decoder', `${b}.conv_2`, outC, outC, 3, false);
    linear('decoder', `${b}.style_2`, latent, 2 * outC, 1);
  }
  for (let i = 0; i < L; i++) conv('decoder', `to_rgb.${i}.to_rgb`, decoderChannels(cfg, i), cfg.channels, 1, true, 0.03);
  // F (MappingF): pixel norm then mappingLayers x (linear, leaky), lrmul 0.1.
  for (let i = 0; i < cfg.mappingLayers; i++) linear('mapping_f', `map_blocks.${i}.fc`, latent, latent, SQRT2, 0.1);
  return out;
}

/** Buffers the reference stores beside the parameters. */
export interface BufferSpec {
  name: string;
  torchShape: number[];
  /** 'blur': the fixed [1,2,1]x[1,2,1]/16 kernel, checked on import, not stored. */
  kind: 'dlatent_avg' | 'blur';
}

export function bufferSpecs(cfg: ModelConfig): BufferSpec[] {
  const out: BufferSpec[] = [];
  for (let i = 0; i < cfg.layerCount; i++) {
    out.push({ name: `encoder.encode_block.${i}.blur.weight`, torchShape: [encoderChannels(cfg, i)[0], 1, 3, 3], kind: 'blur' });
    out.push({ name: `decoder.decode_block.${i}.blur.weight`, torchShape: [decoderChannels(cfg, i), 1, 3, 3], kind: 'blur' });
  }
  out.push({ name: 'dlatent_avg.buff', torchShape: [styleCount(cfg), cfg.latentSize], kind: 'dlatent_avg' });
  return out;
}

/** Is generator block i's up-sampling fused (stride-2 transposed conv)? */
export function decoderFused(i: number): boolean {
  return i > 0 && 4 * 2 ** i >= 128;
}

/** Is encoder block i's down-sampling fused (stride-2 conv)? Block i's input resolution is 2^(L+1-i). */
export function encoderFused(cfg: ModelConfig, i: number): boolean {
  return 2 ** (cfg.layerCount + 1 - i) >= 128;
}

export function countParams(specs: ParamSpec[], network?: NetworkName): number {
  return specs.filter((s) => !network || s.network === network).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
}
