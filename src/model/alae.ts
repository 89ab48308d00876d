/**
 * The ALAE model: E, D, G, F and the tracked average w, with the calls a
 * user needs (map, encode, discriminate, decode, truncation, style mixing).
 * Parameters live in tf.Variables named after the reference's state_dict
 * (see params.ts); networks read them through a `Weights` function.
 *
 * Tensor calls return new tensors owned by the caller and leave nothing
 * else behind.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { type AlaeConfig, styleCount } from '../config/config.js';
import { AlaeError } from '../errors.js';
import { Rng } from '../util/random.js';
import { encode } from './encoder.js';
import { decode, noiseShape, type NoiseMaps } from './generator.js';
import { mappingD, mappingF } from './mapping.js';
import type { Differentiation } from '../nn/ops.js';
import type { NetworkName, ParamSpec } from './lreq.js';
import { paramSpecs } from './params.js';
import type { Weights } from './weights.js';

export interface DecodeOptions {
  /** Level of detail, 0 (4x4) .. layerCount-1 (full); default full. */
  lod?: number;
  /** Blend of the newest level, (0, 1]; default 1. */
  blend?: number;
  /** Explicit noise maps (reproducible output), or a seed to draw them. Default seed 0. */
  noise?: NoiseMaps | { seed: number };
  /** How the caller will differentiate the result (nn/ops.ts); default 'none'. */
  differentiation?: Differentiation;
}

export interface EncodeOptions {
  lod?: number;
  blend?: number;
  /** How the caller will differentiate the result (nn/ops.ts); default 'none'. */
  differentiation?: Differentiation;
}

export class AlaeModel {
  readonly config: AlaeConfig;
  readonly specs: ParamSpec[];
  /** Trainable parameters by reference name, in our layout. */
  readonly vars: Map<string, tf.Variable>;
  /** dlatent_avg.buff: the tracked average w per style slot [2*layerCount, latent]. */
  readonly dlatentAvg: tf.Variable;
  private disposed = false;

  private constructor(config: AlaeConfig, values: (spec: ParamSpec) => Tensor, dlatentAvg: Tensor) {
    this.config = config;
    this.specs = paramSpecs(config.model);
    this.vars = new Map();
    for (const s of this.specs) {
      const v = values(s);
      if (v.shape.join(',') !== s.shape.join(',')) throw new AlaeError(`${s.name}: expected shape [${s.shape}], found [${v.shape}]`);
      this.vars.set(s.name, tf.variable(v, true, `${s.name}#${nextId()}`));
      v.dispose();
    }
    this.dlatentAvg = tf.variable(dlatentAvg, false, `dlatent_avg#${nextId()}`);
    dlatentAvg.dispose();
  }

  /** A freshly initialised model, as the reference initialises it (seeded). */
  static create(config: AlaeConfig, seed = 0): AlaeModel {
    const rng = new Rng(seed, 7);
    return new AlaeModel(
      config,
      (s) => {
        const n = s.shape.reduce((a, b) => a * b, 1);
        if (s.init.kind === 'zeros') return tf.zeros(s.shape);
        if (s.init.kind === 'ones') return tf.ones(s.shape);
        const v = rng.normals(n);
        for (let i = 0; i < n; i++) v[i] *= s.init.std;
        return tf.tensor(v, s.shape);
      },
      tf.zeros([styleCount(config.model), config.model.latentSize]),
    );
  }

  /** A model from named float32 arrays in our layout (every parameter and `dlatent_avg.buff`). */
  static fromArrays(config: AlaeConfig, arrays: ReadonlyMap<string, Float32Array>, file?: string): AlaeModel {
    const specs = paramSpecs(config.model);
    const expected = new Set([...specs.map((s) => s.name), 'dlatent_avg.buff']);
    const missing = [...expected].filter((k) => !arrays.has(k));
    const extra = [...arrays.keys()].filter((k) => !expected.has(k));
    if (missing.length || extra.length) {
      throw new AlaeError(`weights do not match the config: ${missing.length} missing (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}), ${extra.length} unexpected (${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', ...' : ''})`, file);
    }
    const tensorOf = (name: string, shape: number[]): Tensor => {
      const a = arrays.get(name)!;
      const n = shape.reduce((x, y) => x * y, 1);
      if (a.length !== n) throw new AlaeError(`${name}: expected shape [${shape}] (${n} values), found ${a.length} values`, file);
      return tf.tensor(a, shape, 'float32');
    };
    const avgShape = [styleCount(config.model), config.model.latentSize];
    return new AlaeModel(config, (s) => tensorOf(s.name, s.shape), tensorOf('dlatent_avg.buff', avgShape));
  }

  /** Every parameter and the average w as float32 arrays in our layout. */
  async toArrays(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [k, v] of this.vars) out.set(k, (await v.data()) as Float32Array);
    out.set('dlatent_avg.buff', (await this.dlatentAvg.data()) as Float32Array);
    return out;
  }

  /** A deep copy (e.g. the averaged networks of training). */
  clone(): AlaeModel {
    return new AlaeModel(this.config, (s) => tf.clone(this.vars.get(s.name)!), tf.clone(this.dlatentAvg));
  }

  /** Parameter lookup for the network functions; throws on an unknown name. */
  readonly weights: Weights = (param) => {
    const v = this.vars.get(param.name);
    if (!v) throw new AlaeError(`no parameter named ${param.name}`);
    return v;
  };

  /** Variables of one or more networks, in table order. */
  variables(...networks: NetworkName[]): tf.Variable[] {
    return this.specs.filter((s) => networks.includes(s.network)).map((s) => this.vars.get(s.name)!);
  }

  get resolution(): number {
    return 2 ** (this.config.model.layerCount + 1);
  }

  get maxLod(): number {
    return this.config.model.layerCount - 1;
  }

  private checkLod(lod: number, blend: number): void {
    this.assertLive();
    if (!Number.isInteger(lod) || lod < 0 || lod > this.maxLod) throw new AlaeError(`lod must be an integer in 0..${this.maxLod} (got ${lod})`);
    if (!(blend > 0 && blend <= 1)) throw new AlaeError(`blend must be in (0, 1] (got ${blend})`);
  }

  private assertLive(): void {
    if (this.disposed) throw new AlaeError('this model has been disposed');
  }

  /** F: z [N, latent] -> w [N, latent]; `d`: how the caller will differentiate w (nn/ops.ts). */
  map(z: Tensor, d: Differentiation = 'none'): Tensor {
    this.assertLive();
    return mappingF(this.weights, this.config.model, z, d);
  }

  /** E: images NHWC in [-1, 1] at 4*2^lod -> w [N, latent]. */
  encode(x: Tensor4D, opts: EncodeOptions = {}): Tensor {
    const lod = opts.lod ?? this.maxLod;
    const blend = opts.blend ?? 1;
    this.checkLod(lod, blend);
    const res = 4 * 2 ** lod;
    if (x.rank !== 4 || x.shape[1] !== res || x.shape[2] !== res || x.shape[3] !== this.config.model.channels) {
      throw new AlaeError(`encode expects images [N, ${res}, ${res}, ${this.config.model.channels}] at lod ${lod}, got [${x.shape}]`);
    }
    return encode(this.weights, this.config.model, x, lod, blend, opts.differentiation);
  }

  /** D: w [N, latent] -> score [N]. */
  discriminate(w: Tensor, opts: { differentiation?: Differentiation } = {}): Tensor {
    this.assertLive();
    return mappingD(this.weights, this.config.model, w, opts.differentiation);
  }

  /** w [N, latent] -> styles [N, 2*layerCount, latent] (every slot the same w). */
  broadcastStyles(w: Tensor): Tensor {
    const n = w.shape[0];
    const slots = styleCount(this.config.model);
    return tf.tidy(() => tf.tile(tf.reshape(w, [n, 1, this.config.model.latentSize]), [1, slots, 1]));
  }

  /**
   * w [N, latent] as one tensor per style slot (every slot w; slots >= `mixing.cutoff`
   * take `mixing.w2`), which decode takes as they are: broadcastStyles and mixStyles
   * without the tile, the select and a slice per slot, nor their gradients (training).
   */
  slotStyles(w: Tensor, mixing?: { w2: Tensor; cutoff: number }): Tensor[] {
    return Array.from({ length: styleCount(this.config.model) }, (_, k) => (mixing && k >= mixing.cutoff ? mixing.w2 : w));
  }

  /**
   * F(z) in every slot, or with style mixing F(z2) from `mixing.cutoff` on (Model.generate):
   * z and z2 go through F as one batch (F is per sample), one pass of F and of its gradient
   * instead of two. Returns F(z) too (the tracked average's input).
   */
  mapStyles(z: Tensor, mixing?: { z2: Tensor; cutoff: number }, d: Differentiation = 'none'): { w: Tensor; slots: Tensor[] } {
    if (!mixing) {
      const w = this.map(z, d);
      return { w, slots: this.slotStyles(w) };
    }
    return tf.tidy(() => {
      const [w, w2] = tf.split(this.map(tf.concat([z, mixing.z2]), d), [z.shape[0], mixing.z2.shape[0]]);
      return { w, slots: this.slotStyles(w, { w2, cutoff: mixing.cutoff }) };
    });
  }

  /** Truncation toward the tracked average w: slots < cutoff move by psi (Model.generate). */
  truncate(styles: Tensor, psi = this.config.model.truncationPsi, cutoff = this.config.model.truncationCutoff): Tensor {
    this.assertLive();
    const slots = styleCount(this.config.model);
    return tf.tidy(() => {
      const coefs = tf.tensor(Array.from({ length: slots }, (_, i) => (i < cutoff ? psi : 1)), [1, slots, 1]);
      return tf.add(this.dlatentAvg, tf.mul(tf.sub(styles, this.dlatentAvg), coefs));
    });
  }

  /** Style mixing: slots [from, to) from `source`, the rest from `target` (named levels: api/latents.ts levelRanges). */
  mixStyles(target: Tensor, source: Tensor, range: [number, number]): Tensor {
    const slots = styleCount(this.config.model);
    const [from, to] = [Math.max(0, range[0]), Math.min(slots, range[1])];
    if (!(from < to)) throw new AlaeError(`empty style range [${range[0]}, ${range[1]}) for ${slots} slots`);
    return tf.tidy(() => {
      const mask = tf.tensor(Array.from({ length: slots }, (_, i) => (i >= from && i < to ? 1 : 0)), [1, slots, 1], 'bool');
      return tf.where(mask, source, target);
    });
  }

  /** Noise maps for G at `lod`, drawn from a seeded generator (same on every backend). */
  makeNoise(batch: number, lod: number, seed: number): NoiseMaps {
    const rng = new Rng(seed, 11);
    const maps: NoiseMaps = [];
    for (let k = 0; k < 2 * (lod + 1); k++) {
      const shape = noiseShape(k, batch);
      maps.push(tf.tensor4d(rng.normals(shape.reduce((a, b) => a * b, 1)), shape));
    }
    return maps;
  }

  /** G: styles [N, 2L, latent], or one [N, latent] per slot (slotStyles), or w [N, latent] (every slot) -> images NHWC. */
  decode(stylesOrW: Tensor | Tensor[], opts: DecodeOptions = {}): Tensor4D {
    const lod = opts.lod ?? this.maxLod;
    const blend = opts.blend ?? 1;
    this.checkLod(lod, blend);
    const slots = styleCount(this.config.model);
    if (Array.isArray(stylesOrW) && stylesOrW.length !== slots) throw new AlaeError(`decode takes ${slots} style slots, got ${stylesOrW.length}`);
    const n = (Array.isArray(stylesOrW) ? stylesOrW[0] : stylesOrW).shape[0];
    const ownNoise = !Array.isArray(opts.noise);
    const noise = Array.isArray(opts.noise) ? opts.noise : this.makeNoise(n, lod, (opts.noise as { seed: number } | undefined)?.seed ?? 0);
    try {
      if (noise.length < 2 * (lod + 1)) throw new AlaeError(`decode at lod ${lod} needs ${2 * (lod + 1)} noise maps, got ${noise.length}`);
      for (let k = 0; k < 2 * (lod + 1); k++) {
        const want = noiseShape(k, n);
        const got = noise[k].shape;
        if (got[1] !== want[1] || got[2] !== want[2] || got[3] !== 1 || (got[0] !== 1 && got[0] !== n)) {
          throw new AlaeError(`noise map ${k} must be [${want[0]} or 1, ${want[1]}, ${want[2]}, 1], got [${got}]`);
        }
      }
      return tf.tidy(() => {
        const styles = !Array.isArray(stylesOrW) && stylesOrW.rank === 2 ? this.slotStyles(stylesOrW) : stylesOrW;
        return decode(this.weights, this.config.model, styles, lod, blend, noise, opts.differentiation);
      });
    } finally {
      if (ownNoise) noise.forEach((t) => t.dispose());
    }
  }

  /** Release every tensor of the model. */
  dispose(): void {
    if (this.disposed) return;
    for (const v of this.vars.values()) v.dispose();
    this.dlatentAvg.dispose();
    this.disposed = true;
  }
}

let idCounter = 0;
function nextId(): number {
  return ++idCounter;
}
