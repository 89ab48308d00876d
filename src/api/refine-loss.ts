/**
 * What refinement minimises, per image, for latents w (or w+) against the
 * input x, with the noise maps fixed:
 *
 *   pixel * mean((G(w) - x)^2)
 *   + perceptual * mean over E's statistics pairs k and channels c of
 *       (mean_kc(G(w)) - mean_kc(x))^2 + (std_kc(G(w)) - std_kc(x))^2
 *   + identity * (1 - cos(desc(G(w)), desc(x)))
 *
 * The perceptual term uses the model's own encoder: the per-channel mean and
 * std after each conv of every EncodeBlock, the very numbers E maps to w
 * (every ALAE model has them, whatever its data). The identity term is the
 * cosine of face-api's face descriptors (face/identity.ts), for face models.
 *
 * Each image's loss depends on its own row only, so an image refines the
 * same alone or in any batch. The loss is differentiated once (its ops run
 * with Differentiation 'once', nn/ops.ts).
 */
import { tf, type Tensor, type Tensor1D, type Tensor4D } from '../tf.js';
import type { AlaeModel } from '../model/alae.js';
import type { NoiseMaps } from '../model/generator.js';
import { encodeWithStats } from '../model/encoder.js';
import type { AlignMode } from '../face/align.js';
import { rowCosine, type FaceIdentity } from '../face/identity.js';

/** The weights of the three terms (see the module doc). */
export interface RefineLossWeights {
  pixel: number;
  perceptual: number;
  identity: number;
}

/** The identity term's net and where the face is in the crops. */
export interface IdentityTerm {
  net: FaceIdentity;
  align: AlignMode;
}

/**
 * Per image, averaged over the statistics pairs: the channel mean of the
 * squared differences of means plus that of stds. A pair is [N, 2C] (means,
 * then stds), so that is the row's sum over C.
 */
function statsDistance(a: readonly Tensor[], b: readonly Tensor[]): Tensor1D {
  return tf.tidy(() => {
    const terms = a.map((s, k) => tf.div(tf.sum(tf.squaredDifference(s, b[k]), 1), s.shape[1]! / 2));
    return tf.div(tf.addN(terms), terms.length) as Tensor1D;
  });
}

/** The refinement loss of a batch of inputs; holds the targets (x, E's statistics of x, descriptors) until dispose(). */
export class RefineObjective {
  /** E(x), [N, latent]: the usual start. */
  readonly encoded: Tensor;
  private readonly targetStats: Tensor[];
  private readonly targetDesc: Tensor | null;

  constructor(
    private readonly model: AlaeModel,
    private readonly x: Tensor4D,
    private readonly noise: NoiseMaps,
    private readonly weights: RefineLossWeights,
    private readonly identity: IdentityTerm | null,
  ) {
    const { w, stats } = encodeWithStats(model.weights, model.config.model, x, model.maxLod);
    this.encoded = w;
    this.targetStats = stats;
    this.targetDesc = identity && weights.identity > 0 ? identity.net.descriptors(x, identity.align) : null;
  }

  /** Loss per image [N] of w [N, latent] or styles [N, slots, latent]. */
  perImage(latents: Tensor): Tensor1D {
    return tf.tidy(() => {
      const n = latents.shape[0];
      const img = this.model.decode(latents, { noise: this.noise, differentiation: 'once' });
      let loss: Tensor = tf.zeros([n]);
      if (this.weights.pixel > 0) loss = tf.add(loss, tf.mul(tf.mean(tf.reshape(tf.squaredDifference(img, this.x), [n, -1]), 1), this.weights.pixel));
      if (this.weights.perceptual > 0) {
        const { stats } = encodeWithStats(this.model.weights, this.model.config.model, img, this.model.maxLod, 1, 'once');
        loss = tf.add(loss, tf.mul(statsDistance(stats, this.targetStats), this.weights.perceptual));
      }
      if (this.targetDesc && this.identity) {
        const cos = rowCosine(this.identity.net.descriptors(img, this.identity.align), this.targetDesc);
        loss = tf.add(loss, tf.mul(tf.sub(1, cos), this.weights.identity));
      }
      return loss as Tensor1D;
    });
  }

  dispose(): void {
    this.encoded.dispose();
    tf.dispose(this.targetStats);
    this.targetDesc?.dispose();
  }
}
