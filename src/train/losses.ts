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
import { gradientParts, gradients } from './tape.js';
import { addParts, disposeParts, type GradParts } from './grad-parts.js';

export interface LossResult {
  value: number;
  /** Gradients by parameter name (only parameters that take part), in parts (grad-parts.ts: sumParts gives one tensor). */
  grads: Map<string, GradParts>;
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
 * f's value (a scalar the caller disposes) and its gradients for the named networks, by
 * parameter name, in parts, taken through train/tape.ts; parameters that got no gradient are left out.
 */
function paramGrads(model: AlaeModel, networks: NetworkName[], f: () => tf.Scalar): { value: Tensor; grads: Map<string, GradParts> } {
  const names = model.specs.filter((s) => networks.includes(s.network)).map((s) => s.name);
  const { value, grads } = gradientParts(f, names.map((n) => model.vars.get(n)!));
  const out = new Map<string, GradParts>();
  names.forEach((n, i) => {
    const g = grads[i];
    if (g) out.set(n, g);
  });
  return { value, grads: out };
}

/**
 * paramGrads with the loss read back asynchronously: a synchronous read stalls (and on webgpu
 * in Node fails for want of an OffscreenCanvas).
 */
async function withGrads(model: AlaeModel, networks: NetworkName[], f: () => tf.Scalar): Promise<LossResult> {
  const { value, grads } = paramGrads(model, networks, f);
  const v = (await value.data())[0];
  value.dispose();
  return { value: v, grads };
}

/** Parameters that tfjs gives a gradient of exactly zero because they are not on the path (e.g. unused from_rgb). */
function unusedParams(model: AlaeModel, networks: NetworkName[], lod: number, blend: number): ReadonlySet<string> {
  return idleParams(model.config.model, lod, blend, networks);
}

function prune(model: AlaeModel, r: LossResult, networks: NetworkName[], o: LevelOptions): LossResult {
  for (const n of unusedParams(model, networks, o.lod, o.blend)) {
    const g = r.grads.get(n);
    if (g) disposeParts(g);
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
  // Gradients add up, so the fake branch's are taken on a tape of their own, which is gone
  // before the real branch's R1 double backprop starts: the two tapes are never alive
  // together. Its term of the loss is carried over as a constant, so the value and the
  // gradients are what one tape over the whole loss gives, bit for bit (the real branch's
  // contribution is the first term of each sum, as in the one-tape backward pass). The
  // optimizer adds the fake branch's gradient to the real one's (grad-parts.ts).
  let fakeTerm: Tensor | null = null;
  const rFake = paramGrads(model, nets, () => {
    const s = tf.softplus(model.discriminate(model.encode(fake, { ...o, differentiation: TRAINED }), { differentiation: TRAINED }));
    fakeTerm = tf.keep(s);
    return tf.mean(s) as tf.Scalar;
  });
  rFake.value.dispose(); // the loss's value comes from the second tape, which adds this term
  const sFake = fakeTerm as unknown as Tensor;
  try {
    const r = await withGrads(model, nets, () => {
      let dReal: Tensor | null = null;
      // Only the real branch is differentiated twice (the R1 term); the fake branch may use first-order fused kernels.
      const gradReal = tf.tidy(() => gradients(() => {
        const d = model.discriminate(model.encode(real, { ...o, differentiation: 'twice' }), { differentiation: 'twice' });
        dReal = tf.keep(d);
        return tf.sum(d);
      }, [real]).grads[0]!);
      const d = dReal as unknown as Tensor;
      const r1 = tf.sum(tf.square(gradReal), [1, 2, 3]);
      const loss = tf.add(tf.add(sFake, tf.softplus(tf.neg(d))), tf.mul(r1, o.r1Gamma * 0.5));
      const out = tf.mean(loss) as tf.Scalar;
      d.dispose();
      return out;
    });
    for (const [name, g] of rFake.grads) {
      const real = r.grads.get(name);
      r.grads.set(name, real ? addParts(real, g) : g);
    }
    rFake.grads.clear();
    return prune(model, r, nets, o);
  } finally {
    sFake.dispose();
    for (const g of rFake.grads.values()) disposeParts(g);
  }
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
    const d = model.discriminate(model.encode(img, { ...o, differentiation: TRAINED }), { differentiation: TRAINED });
    return tf.mean(tf.softplus(tf.neg(d))) as tf.Scalar;
  });
  return prune(model, r, nets, o);
}

/**
 * Step 3, E, G and F: latent reciprocity mean((E(G(w)) - w)^2), w = F(z) detached as the target:
 * `target` when given (model.map(z), which the caller also tracks the average w with), else
 * computed here.
 */
export async function lossAE(model: AlaeModel, g: Omit<GenerateInput, 'mixing'> & { target?: Tensor }, o: LevelOptions): Promise<LossResult> {
  const nets: NetworkName[] = ['encoder', 'decoder', 'mapping_f'];
  const target = g.target ?? tf.tidy(() => model.map(g.z)); // computed outside the tape: no gradient flows into the target
  try {
    const r = await withGrads(model, nets, () => {
      const img = model.decode(styles(model, g), { lod: o.lod, blend: o.blend, noise: g.noise, differentiation: TRAINED });
      const w = model.encode(img, { ...o, differentiation: TRAINED });
      return tf.mean(tf.square(tf.sub(w, target))) as tf.Scalar;
    });
    return prune(model, r, nets, o);
  } finally {
    if (target !== g.target) target.dispose();
  }
}

export function disposeGrads(r: LossResult): void {
  for (const g of r.grads.values()) disposeParts(g);
  r.grads.clear();
}
