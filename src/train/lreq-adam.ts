/**
 * LREQAdam (custom_adam.py of the reference): Adam with no first moment
 * (beta1 = 0), whose step is scaled per parameter by its equalized-learning-
 * rate coefficient, because the reference stores weights already scaled:
 *   v = beta2 v + (1 - beta2) g^2
 *   p -= lr sqrt(1 - beta2^t) coef g / (sqrt(v) + eps)
 * Parameters without a gradient in a step are left alone (step count too).
 */
import { tf } from '../tf.js';
import type { AlaeModel } from '../model/alae.js';
import type { NetworkName } from '../model/lreq.js';
import { hostMemoryBackend } from '../backend/backend.js';
import { type AdamItem, adamUpdate } from './param-update.js';
import type { OptimizerState } from '../io/checkpoint-file.js';
import type { GradParts } from './grad-parts.js';

export interface ParamState {
  step: number;
  expAvgSq: tf.Variable;
}

/** Per parameter name: step count and v in our layout (as files hold it). */
export type AdamStateArrays = OptimizerState;

export class LREQAdam {
  readonly networks: NetworkName[];
  lr: number;
  readonly beta2: number;
  readonly eps: number;
  readonly state = new Map<string, ParamState>();
  private readonly coefs: Map<string, number>;

  /** Update in JS loops (same bits; cpu and native only) instead of kernels; default: when the backend allows (param-update.ts). */
  hostUpdates: boolean | undefined;

  constructor(model: AlaeModel, networks: NetworkName[], opts: { lr: number; beta2?: number; eps?: number; hostUpdates?: boolean }) {
    this.networks = networks;
    this.lr = opts.lr;
    this.beta2 = opts.beta2 ?? 0.99;
    this.eps = opts.eps ?? 1e-8;
    this.hostUpdates = opts.hostUpdates;
    this.coefs = new Map(model.specs.filter((s) => networks.includes(s.network)).map((s) => [s.name, s.coef]));
  }

  /**
   * Apply one step to the model's variables with the given gradients, each in parts (their sum
   * is the gradient: grad-parts.ts); names outside this optimizer's networks are ignored.
   */
  step(model: AlaeModel, grads: ReadonlyMap<string, GradParts>): void {
    const items: AdamItem[] = [];
    for (const [name, g] of grads) {
      const coef = this.coefs.get(name);
      if (coef === undefined) continue;
      const p = model.vars.get(name)!;
      let st = this.state.get(name);
      if (!st) {
        // tf.variable shares the initial tensor's data; dispose the initial tensor or it stays counted.
        const zeros = tf.zerosLike(p);
        st = { step: 0, expAvgSq: tf.variable(zeros, false) };
        zeros.dispose();
        this.state.set(name, st);
      }
      st.step += 1;
      items.push({ p, v: st.expAvgSq, g, stepSize: this.lr * Math.sqrt(1 - this.beta2 ** st.step) * coef });
    }
    adamUpdate(items, this.beta2, this.eps, this.hostUpdates ?? hostMemoryBackend());
  }

  /** Forget all state (the reference resets the optimizers when the level of detail changes). */
  reset(): void {
    for (const s of this.state.values()) s.expAvgSq.dispose();
    this.state.clear();
  }

  async toArrays(): Promise<AdamStateArrays> {
    const out: AdamStateArrays = {};
    for (const [k, s] of this.state) out[k] = { step: s.step, expAvgSq: (await s.expAvgSq.data()) as Float32Array };
    return out;
  }

  /** Restore state (from our checkpoint or an imported reference optimizer). */
  load(arrays: AdamStateArrays, model: AlaeModel): void {
    this.reset();
    for (const [k, s] of Object.entries(arrays)) {
      const p = model.vars.get(k);
      if (!p || !this.coefs.has(k)) continue;
      const init = tf.tensor(s.expAvgSq, p.shape);
      this.state.set(k, { step: s.step, expAvgSq: tf.variable(init, false) });
      init.dispose();
    }
  }

  dispose(): void {
    this.reset();
  }
}
