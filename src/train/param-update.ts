/**
 * The per-parameter updates of a training iteration, over all parameters at
 * once: LREQAdam's step (lreq-adam.ts) and the averaged-weights lerp
 * (step.ts), in the fastest form the backend has, all with the same bits:
 * - host: one JS loop per parameter where tensors live in JS memory (cpu,
 *   native: host-update.ts);
 * - kernel: one multi-tensor kernel over every parameter where the backend
 *   registers ADAM_UPDATE / LERP_UPDATE (webgpu: a dispatch or two instead
 *   of nine kernels per parameter for Adam and three for the lerp;
 *   backend/webgpu/param-update.ts);
 * - ops: tfjs ops per parameter.
 * Adam's gradients come in parts (grad-parts.ts); each path adds them, left
 * to right, where it reads the gradient, rounding as tf.add does.
 */
import { tf, type Tensor } from '../tf.js';
import { adamUpdateHost, lerpHost } from './host-update.js';
import type { GradParts } from './grad-parts.js';
import { ADAM_UPDATE, LERP_UPDATE } from '../backend/update-kernels.js';

export { ADAM_UPDATE, LERP_UPDATE } from '../backend/update-kernels.js';

export interface AdamItem {
  p: tf.Variable;
  v: tf.Variable;
  g: GradParts;
  stepSize: number;
}

const kernel = (name: string): boolean => tf.getKernel(name, tf.getBackend()) !== undefined;

/** Point variables at new values (their old data is released as assign() does). */
function assignAll(vars: tf.Variable[], values: Tensor[]): void {
  vars.forEach((v, i) => v.assign(values[i]));
  tf.dispose(values);
}

/**
 * One LREQAdam step on each item: g = ((g0 + g1) + ...); v = v beta2 + g^2 (1 - beta2);
 * p = p - g / (sqrt(v) + eps) * stepSize.
 */
export function adamUpdate(items: AdamItem[], beta2: number, eps: number, host: boolean): void {
  if (items.length === 0) return;
  if (host) {
    for (const it of items) adamUpdateHost(it.p, it.v, it.g, beta2, eps, it.stepSize);
    return;
  }
  if (kernel(ADAM_UPDATE)) {
    const inputs: Record<string, Tensor> = {};
    items.forEach((it, i) => {
      Object.assign(inputs, { [`p${i}`]: it.p, [`v${i}`]: it.v });
      it.g.forEach((part, j) => (inputs[`g${i}_${j}`] = part));
    });
    const out = tf.engine().runKernel(ADAM_UPDATE, inputs as unknown as tf.NamedTensorMap,
      { stepSizes: items.map((it) => it.stepSize), parts: items.map((it) => it.g.length), beta2, eps }) as Tensor[];
    assignAll([...items.map((it) => it.p), ...items.map((it) => it.v)], out);
    return;
  }
  tf.tidy(() => {
    for (const { p, v, g: parts, stepSize } of items) {
      const g = parts.slice(1).reduce((sum, part) => tf.add(sum, part), parts[0]);
      const nv = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
      v.assign(nv);
      p.assign(tf.sub(p, tf.mul(tf.div(g, tf.add(tf.sqrt(nv), eps)), stepSize)));
    }
  });
}

/**
 * avg = avg + (trained - avg) * rate for each pair; trained has avg's shape, or its trailing
 * axes and is repeated along the leading ones (broadcast, as the tracked average w takes a
 * batch mean per style slot).
 */
export function lerpUpdate(pairs: { avg: tf.Variable; trained: Tensor }[], rate: number, host: boolean): void {
  if (pairs.length === 0) return;
  if (host) {
    for (const { avg, trained } of pairs) lerpHost(avg, trained, rate);
    return;
  }
  if (kernel(LERP_UPDATE)) {
    const inputs: Record<string, Tensor> = {};
    pairs.forEach(({ avg, trained }, i) => Object.assign(inputs, { [`a${i}`]: avg, [`t${i}`]: trained }));
    assignAll(pairs.map((x) => x.avg), tf.engine().runKernel(LERP_UPDATE, inputs as unknown as tf.NamedTensorMap, { rate }) as Tensor[]);
    return;
  }
  tf.tidy(() => {
    for (const { avg, trained } of pairs) avg.assign(tf.add(avg, tf.mul(tf.sub(trained, avg), rate)));
  });
}
