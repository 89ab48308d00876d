/**
 * The three ALAE objectives (losses.py and Model.forward of the reference),
 * each returning its value and the gradients of the networks it trains.
 *
 * The R1 penalty needs dD(E(x))/dx differentiated again with respect to the
 * parameters; every op on that path is one whose double backprop tfjs gets
 * right (see nn/ops.ts), and the result is checked against the reference's
 * gradients by the parity command and a finite-difference test.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import type { AlaeModel } from '../model/alae.js';
import type { NoiseMaps } from '../model/generator.js';
import type { NetworkName } from '../model/lreq.js';
import { idleParams } from '../model/params.js';
import type { Differentiation } from '../nn/ops.js';
import { instanceStatsFused } from '../nn/instance-stats.js';

export interface LossResult {
  value: number;
  /** Gradients by parameter name (only parameters that take part). */
  grads: Map<string, Tensor>;
}

export interface LevelOptions {
  lod: number;
  blend: number;
}

/**
 * How the networks' ops are differentiated under the parameter gradients of
 * all three steps: with the twice-differentiable primitives ('once'; R1's
 * inner gradient, differentiated again, runs 'twice'). Steps 2 and 3 could
 * use the fast forms ('none'), but their gradients then land on the other
 * side of a leaky-ReLU kink more often: pre-activations within ~1e-7 of zero
 * flip with the rounding of the forward pass, and with the fast forms
 * loss_ae of tiny32 moves from 1e-5 to 8e-3 of the reference on the native
 * backend (see the issue notes).
 */
const TRAINED: Differentiation = 'once';

/**
 * Run f under variableGrads for the named networks; drop parameters that got
 * no gradient. The loss is read back asynchronously: a synchronous read
 * stalls (and on webgpu in Node fails for want of an OffscreenCanvas).
 */
async function withGrads(model: AlaeModel, networks: NetworkName[], f: () => tf.Scalar): Promise<LossResult> {
  const names = model.specs.filter((s) => networks.includes(s.network)).map((s) => s.name);
  const list = names.map((n) => model.vars.get(n)!);
  const { value, grads } = tf.variableGrads(f, list);
  const out = new Map<string, Tensor>();
  for (const n of names) {
    const g = grads[model.vars.get(n)!.name];
    if (g) out.set(n, g);
  }
  const v = (await value.data())[0];
  value.dispose();
  return { value: v, grads: out };
}

/** Parameters that tfjs gives a gradient of exactly zero because they are not on the path (e.g. unused from_rgb). */
function unusedParams(model: AlaeModel, networks: NetworkName[], lod: number, blend: number): ReadonlySet<string> {
  return idleParams(model.config.model, lod, blend, networks);
}

function prune(model: AlaeModel, r: LossResult, networks: NetworkName[], o: LevelOptions): LossResult {
  for (const n of unusedParams(model, networks, o.lod, o.blend)) {
    r.grads.get(n)?.dispose();
    r.grads.delete(n);
  }
  return r;
}

/**
 * Step 1, E and D: softplus(D(E(fake))) + softplus(-D(E(real))) plus the R1
 * penalty gamma/2 * |dD(E(real))/d real|^2 per sample, batch mean
 * (discriminator_logistic_simple_gp).
 */
export async function lossD(model: AlaeModel, real: Tensor4D, fake: Tensor4D, o: LevelOptions & { r1Gamma: number }): Promise<LossResult> {
  const nets: NetworkName[] = ['encoder', 'mapping_d'];
  // Every op of E and D is per sample: where the backend differentiates its fused kernels
  // twice as cheaply as once, the fake batch rides in the real one's twice-differentiated pass
  // (one pass of E and D and of their gradients instead of two; the fake rows' input gradient
  // is zero and unused). Elsewhere the fake branch keeps the cheaper first-order forms.
  const merged = instanceStatsFused('twice');
  const n = real.shape[0];
  const r = await withGrads(model, nets, () => {
    const dFakeApart = merged ? null : model.discriminate(model.encode(fake, { ...o, differentiation: TRAINED }));
    let dAll: Tensor | null = null;
    const gradAll = tf.grad((x: Tensor) => {
      const d = model.discriminate(model.encode(x as Tensor4D, { ...o, differentiation: 'twice' }));
      dAll = tf.keep(d);
      return tf.sum(merged ? tf.slice(d, 0, n) : d);
    })(merged ? tf.concat([real, fake]) : real);
    const d = dAll as unknown as Tensor;
    const [dReal, dFake] = dFakeApart ? [d, dFakeApart] : tf.split(d, [n, fake.shape[0]]);
    const gradReal = merged ? tf.slice(gradAll, 0, n) : gradAll;
    const r1 = tf.sum(tf.square(gradReal), [1, 2, 3]);
    const loss = tf.add(tf.add(tf.softplus(dFake), tf.softplus(tf.neg(dReal))), tf.mul(r1, o.r1Gamma * 0.5));
    const out = tf.mean(loss) as tf.Scalar;
    d.dispose();
    return out;
  });
  return prune(model, r, nets, o);
}

export interface GenerateInput {
  /** Latent z [N, latent]. */
  z: Tensor;
  /** Noise maps for G at this lod. */
  noise: NoiseMaps;
  /** Style mixing: slots >= cutoff take F(z2) (Model.generate). */
  mixing?: { z2: Tensor; cutoff: number };
}

/** F(z) in every slot, with optional style mixing; differentiable. */
function styles(model: AlaeModel, g: GenerateInput): Tensor[] {
  return model.mapStyles(g.z, g.mixing, TRAINED).slots;
}

/** Step 2, F and G with E and D frozen: softplus(-D(E(G(F(z))))) mean. */
export async function lossG(model: AlaeModel, g: GenerateInput, o: LevelOptions): Promise<LossResult> {
  const nets: NetworkName[] = ['decoder', 'mapping_f'];
  const r = await withGrads(model, nets, () => {
    const img = model.decode(styles(model, g), { lod: o.lod, blend: o.blend, noise: g.noise, differentiation: TRAINED });
    const d = model.discriminate(model.encode(img, { ...o, differentiation: TRAINED }));
    return tf.mean(tf.softplus(tf.neg(d))) as tf.Scalar;
  });
  return prune(model, r, nets, o);
}

/** Step 3, E, G and F: latent reciprocity mean((E(G(w)) - w)^2), w = F(z) detached as the target. */
export async function lossAE(model: AlaeModel, g: Omit<GenerateInput, 'mixing'>, o: LevelOptions): Promise<LossResult> {
  const nets: NetworkName[] = ['encoder', 'decoder', 'mapping_f'];
  const target = tf.tidy(() => model.map(g.z)); // computed outside the tape: no gradient flows into the target
  try {
    const r = await withGrads(model, nets, () => {
      const img = model.decode(styles(model, g), { lod: o.lod, blend: o.blend, noise: g.noise, differentiation: TRAINED });
      const w = model.encode(img, { ...o, differentiation: TRAINED });
      return tf.mean(tf.square(tf.sub(w, target))) as tf.Scalar;
    });
    return prune(model, r, nets, o);
  } finally {
    target.dispose();
  }
}

export function disposeGrads(r: LossResult): void {
  for (const g of r.grads.values()) g.dispose();
  r.grads.clear();
}
