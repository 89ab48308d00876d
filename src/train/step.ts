/**
 * One training iteration of ALAE, as train_alae.py runs it:
 *
 *   1. E and D: lossD on the real batch and a fake G(F(z)) made without
 *      gradients (style mixing, noise), encoder optimizer step.
 *   2. F and G: lossG (style mixing, noise), decoder optimizer step.
 *   3. E, G and F: lossAE (no mixing), both optimizers step.
 *   4. The averaged networks move toward the trained ones:
 *      avg = lerp(avg, trained, 1 - 0.5 ** (batch / 10000)) (Model.lerp).
 *
 * Every time styles are generated (three times per iteration) the tracked
 * average w moves toward the batch mean of F(z):
 * dlatent_avg = lerp(dlatent_avg, mean(F(z)), 1 - DLATENT_AVG_BETA)
 * (Model.generate), before any optimizer step of that stage.
 *
 * All randomness (z, the mixing coin and cutoff, the noise maps) is drawn
 * from one seeded Rng, in the order Model.generate draws it: z, coin,
 * (z2, cutoff), noise.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import type { AlaeModel } from '../model/alae.js';
import { noiseShape, type NoiseMaps } from '../model/generator.js';
import { downscale2d, upscale2d } from '../nn/ops.js';
import { hostMemoryBackend } from '../backend/backend.js';
import { Rng } from '../util/random.js';
import { disposeGrads, lossAE, lossD, lossG, type GenerateInput } from './losses.js';
import { disposeParts, type GradParts } from './grad-parts.js';
import type { LREQAdam } from './lreq-adam.js';
import { seededNormals } from './noise.js';
import { lerpUpdate } from './param-update.js';

/**
 * The model rejects blend 0, which the schedule yields at exactly the first
 * image of a fade-in (sin(-pi/2) * 0.5 + 0.5). A blend this small makes
 * every term it scales vanish in float32 arithmetic, as 0 does in the
 * reference; the real images are still blended with the exact 0.
 */
export const MIN_MODEL_BLEND = 1e-30;

export interface TrainState {
  model: AlaeModel;
  /** The averaged networks (model_s of the reference). */
  averaged: AlaeModel;
  /** LREQAdam of E and D. */
  encoderOpt: LREQAdam;
  /** LREQAdam of G and F. */
  decoderOpt: LREQAdam;
  /** The one random stream of the run (its state goes into checkpoints). */
  rng: Rng;
}

export interface StepLevel {
  lod: number;
  /** Exact blend factor of the schedule, in [0, 1]. */
  blend: number;
  inTransition: boolean;
}

export interface StepOptions {
  r1Gamma: number;
  styleMixingProb: number;
  dlatentAvgBeta: number;
  /**
   * Emulate PyTorch 1.4's zero_grad (the version the reference pins), which
   * zeroes gradients instead of dropping them: in step 3 D's parameters
   * still hold zeroed gradients, so the encoder optimizer steps them with
   * g = 0 (v decays by beta2, the step count grows, the weights do not
   * move). This changes D's later effective step size, so it is on by
   * default. Other zero-gradient steps of torch 1.4 (parameters of a level
   * no longer in use) never move a weight and their state is dropped at the
   * next level change before it could matter.
   */
  torchZeroGrad: boolean;
}

export interface StepLosses {
  d: number;
  g: number;
  ae: number;
}

/** Batch mean w tracking of Model.generate: avg = lerp(avg, mean(w), 1 - beta), the mean in every style slot. */
function trackDlatent(model: AlaeModel, w: Tensor, beta: number): void {
  const mean = tf.mean(w, 0);
  lerpUpdate([{ avg: model.dlatentAvg, trained: mean }], 1 - beta, hostMemoryBackend());
  mean.dispose();
}

/** z ~ N(0, 1) [n, latent] from the run's Rng. */
function drawZ(rng: Rng, n: number, latent: number): Tensor {
  return tf.tensor2d(rng.normals(n * latent), [n, latent]);
}

/** Noise maps for G at `lod`: one seed per map from the Rng, expanded by seededNormals. */
export function drawNoise(rng: Rng, n: number, lod: number): NoiseMaps {
  const maps: NoiseMaps = [];
  for (let k = 0; k < 2 * (lod + 1); k++) {
    const shape = noiseShape(k, n);
    maps.push(tf.tensor4d(seededNormals(rng.nextU32(), shape[0] * shape[1] * shape[2] * shape[3]), shape));
  }
  return maps;
}

/** Model.generate's mixing draws: with probability p, z2 and cutoff = randint(1, (lod + 1) * 2). */
function drawMixing(rng: Rng, p: number, n: number, latent: number, lod: number, slots: number): GenerateInput['mixing'] {
  if (!(rng.uniform() < p)) return undefined;
  const z2 = drawZ(rng, n, latent);
  const cutoff = rng.int(1, (lod + 1) * 2);
  // At the last level the cutoff can be every slot: torch.where(idx < cutoff, styles, styles2) then keeps all of styles.
  if (cutoff >= slots) {
    z2.dispose();
    return undefined;
  }
  return { z2, cutoff };
}

function disposeInput(g: GenerateInput): void {
  g.z.dispose();
  g.mixing?.z2.dispose();
  g.noise.forEach((t) => t.dispose());
}

/**
 * The real batch at the level: during a fade-in, blended with its 2x
 * average-pooled, nearest-upsampled self (train_alae.py):
 * x = x * blend + up(avgpool(x)) * (1 - blend).
 */
export function blendReal(x: Tensor4D, level: StepLevel): Tensor4D {
  if (!level.inTransition) return tf.clone(x);
  return tf.tidy(() => tf.add(tf.mul(x, level.blend), tf.mul(upscale2d(downscale2d(x)), 1 - level.blend)) as Tensor4D);
}

/** avg = lerp(avg, trained, 1 - beta) over all four networks (Model.lerp; dlatent_avg is a buffer and is not lerped there). */
export function lerpAveraged(averaged: AlaeModel, model: AlaeModel, beta: number, host = hostMemoryBackend()): void {
  lerpUpdate([...averaged.vars].map(([name, avg]) => ({ avg, trained: model.vars.get(name)! })), 1 - beta, host);
}

/** Averaging rate of the reference: beta = 0.5 ** (batch / 10000). */
export function averagingBeta(batch: number): number {
  return 0.5 ** (batch / 10000);
}

/**
 * One iteration on the real batch `x` (NHWC in [-1, 1] at the level's
 * resolution, not yet blended). The optimizers' learning rate must already
 * be set. Leaves no tensors behind. Async because the losses are read back
 * asynchronously (a synchronous read stalls a GPU backend).
 */
export async function trainIteration(st: TrainState, x: Tensor4D, level: StepLevel, o: StepOptions): Promise<StepLosses> {
  const { model, rng } = st;
  const cfg = model.config.model;
  const n = x.shape[0];
  const lod = level.lod;
  const lv = { lod, blend: Math.max(level.blend, MIN_MODEL_BLEND) };
  const real = blendReal(x, level);

  // Step 1: E and D. The fake is made without gradients (no tape here).
  let d: number;
  {
    const z = drawZ(rng, n, cfg.latentSize);
    const mixing = drawMixing(rng, o.styleMixingProb, n, cfg.latentSize, lod, 2 * cfg.layerCount);
    const noise = drawNoise(rng, n, lod);
    const fake = tf.tidy(() => {
      const { w, slots } = model.mapStyles(z, mixing);
      trackDlatent(model, w, o.dlatentAvgBeta);
      return model.decode(slots, { ...lv, noise });
    });
    disposeInput({ z, mixing, noise });
    try {
      const r = await lossD(model, real, fake, { ...lv, r1Gamma: o.r1Gamma });
      d = r.value;
      st.encoderOpt.step(model, r.grads);
      disposeGrads(r);
    } finally {
      fake.dispose();
      real.dispose();
    }
  }

  // Step 2: F and G, E and D frozen.
  let g: number;
  {
    const z = drawZ(rng, n, cfg.latentSize);
    const mixing = drawMixing(rng, o.styleMixingProb, n, cfg.latentSize, lod, 2 * cfg.layerCount);
    const noise = drawNoise(rng, n, lod);
    const input: GenerateInput = { z, noise, mixing };
    try {
      tf.tidy(() => trackDlatent(model, model.map(z), o.dlatentAvgBeta));
      const r = await lossG(model, input, lv);
      g = r.value;
      st.decoderOpt.step(model, r.grads);
      disposeGrads(r);
    } finally {
      disposeInput(input);
    }
  }

  // Step 3: E, G and F on the latent reconstruction; both optimizers step.
  let ae: number;
  {
    const z = drawZ(rng, n, cfg.latentSize);
    const noise = drawNoise(rng, n, lod);
    const input: GenerateInput = { z, noise };
    // F(z) once, untaped: the tracked average's input and lossAE's detached target.
    const target = tf.tidy(() => model.map(z));
    try {
      trackDlatent(model, target, o.dlatentAvgBeta);
      const r = await lossAE(model, { ...input, target }, lv);
      ae = r.value;
      if (o.torchZeroGrad) {
        const zeros = model.specs.filter((s) => s.network === 'mapping_d' && !r.grads.has(s.name)).map((s): [string, GradParts] => [s.name, [tf.zeros(s.shape)]]);
        st.encoderOpt.step(model, new Map([...r.grads, ...zeros]));
        zeros.forEach(([, g]) => disposeParts(g));
      } else {
        st.encoderOpt.step(model, r.grads);
      }
      st.decoderOpt.step(model, r.grads);
      disposeGrads(r);
    } finally {
      target.dispose();
      disposeInput(input);
    }
  }

  lerpAveraged(st.averaged, model, averagingBeta(n));
  return { d, g, ae };
}
