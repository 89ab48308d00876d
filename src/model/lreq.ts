/**
 * What a parameter is, and how a block declares one: the reference's
 * lreq.py (equalized learning rate). Each block declares its parameters
 * beside its forward code with a `Scope` (encoder.ts, generator.ts,
 * mapping.ts); model/params.ts gathers them into the table that the
 * checkpoint import, the optimizer and model initialisation all read.
 */

/** Our four networks, named as in the reference's Model class. */
export type NetworkName = 'encoder' | 'decoder' | 'mapping_d' | 'mapping_f';

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

/** An lreq.Linear: weight and bias. */
export interface LinearParams {
  weight: ParamSpec;
  bias: ParamSpec;
}

/** An lreq.Conv2d (or ConvTranspose2d) without bias. */
export interface ConvParams {
  weight: ParamSpec;
}

/** An lreq.Conv2d with bias. */
export interface ConvBiasParams extends ConvParams {
  bias: ParamSpec;
}

export interface ConvOptions {
  /** Default sqrt(2). */
  gain?: number;
  /** lreq.ConvTranspose2d: the weight is [in, out, k, k]. */
  transpose?: boolean;
}

/**
 * The parameters of one module of one network, named `<network>.<prefix>.<name>`
 * as the reference's state_dict names them. Weights are N(0, gain/sqrt(fan_in))
 * at init with coefficient gain/sqrt(fan_in)*lrmul; biases start at 0 with
 * coefficient lrmul.
 */
export class Scope {
  constructor(
    readonly network: NetworkName,
    readonly prefix: string,
  ) {}

  /** A parameter of its own (a bias or noise weight of the block, the constant input). */
  param(name: string, torchShape: number[], layout: Layout, init: Init, coef = 1): ParamSpec {
    const full = this.prefix ? `${this.network}.${this.prefix}.${name}` : `${this.network}.${name}`;
    return { name: full, network: this.network, torchShape, shape: toOurShape(torchShape, layout), layout, coef, init };
  }

  /** A per-channel parameter [1, C, 1, 1] (nn.Parameter of the reference's blocks). */
  channel(name: string, channels: number, init: Init = { kind: 'zeros' }): ParamSpec {
    return this.param(name, [1, channels, 1, 1], 'chan', init);
  }

  /** lreq.Linear(inF, outF, gain, lrmul). */
  linear(name: string, inF: number, outF: number, gain = Math.SQRT2, lrmul = 1): LinearParams {
    const std = gain / Math.sqrt(inF);
    return {
      weight: this.param(`${name}.weight`, [outF, inF], 'linear', { kind: 'normal', std }, std * lrmul),
      bias: this.param(`${name}.bias`, [outF], 'same', { kind: 'zeros' }, lrmul),
    };
  }

  /** lreq.Conv2d(inC, outC, k, bias=False), or ConvTranspose2d with `transpose`. */
  conv(name: string, inC: number, outC: number, k: number, opts: ConvOptions = {}): ConvParams {
    const std = (opts.gain ?? Math.SQRT2) / Math.sqrt(k * k * inC);
    const shape = opts.transpose ? [inC, outC, k, k] : [outC, inC, k, k];
    return { weight: this.param(`${name}.weight`, shape, opts.transpose ? 'convT' : 'conv', { kind: 'normal', std }, std) };
  }

  /** lreq.Conv2d(inC, outC, k) with its bias. */
  convBias(name: string, inC: number, outC: number, k: number, opts: ConvOptions = {}): ConvBiasParams {
    return { ...this.conv(name, inC, outC, k, opts), bias: this.param(`${name}.bias`, [outC], 'same', { kind: 'zeros' }) };
  }
}

/**
 * The parameters of a block's declaration, in declaration order: a block
 * declares its own parameters first, then its submodules in order, as the
 * reference's state_dict lists them (and weight before bias).
 */
export function specsOf(declared: Readonly<Record<string, ParamSpec | ConvParams | LinearParams>>): ParamSpec[] {
  return Object.values(declared).flatMap((v) => ('name' in v ? [v as ParamSpec] : Object.values(v)));
}
