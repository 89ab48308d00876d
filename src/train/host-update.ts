/**
 * Per-parameter training updates as one JS loop per parameter, for backends
 * that keep tensors in JS memory (cpu, native). Written as tfjs ops, the
 * LREQAdam step is nine kernels per parameter and the averaging lerp three;
 * a mnist-small iteration runs them for ~400 parameter updates, which was a
 * third of its kernels, each paying tfjs's dispatch cost on a tensor of a few
 * hundred values.
 *
 * Every operation is rounded to float32 (Math.fround) in the order the op
 * chains compute it, so the results are the same bits as the kernels'
 * (test/train/host-update.test.ts).
 */
import { tf, type Tensor } from '../tf.js';
import type { GradParts } from './grad-parts.js';

const f = Math.fround;

function hostValues(t: Tensor): Float32Array {
  const v = t.dataSync();
  if (!(v instanceof Float32Array)) throw new Error(`host update: expected float32 data, got ${t.dtype}`);
  return v;
}

/** Point a variable at new values (the old data is released as assign() does). */
function assignValues(variable: tf.Variable, values: Float32Array): void {
  const t = tf.tensor(values, variable.shape, 'float32');
  variable.assign(t);
  t.dispose();
}

/**
 * LREQAdam's step on one parameter, the bits of
 *   g = (g0 + g1) + ...;  v = v * beta2 + g^2 * (1 - beta2);  p = p - g / (sqrt(v) + eps) * stepSize
 */
export function adamUpdateHost(p: tf.Variable, v: tf.Variable, g: GradParts, beta2: number, eps: number, stepSize: number): void {
  const pv = hostValues(p), vv = hostValues(v), gs = g.map(hostValues);
  const n = pv.length;
  const bad = gs.find((gv) => gv.length !== n);
  if (vv.length !== n || bad) throw new Error(`host update: sizes differ (parameter ${n}, state ${vv.length}, gradient ${(bad ?? gs[0]).length})`);
  const [g0, ...rest] = gs;
  const b2 = f(beta2), omb2 = f(1 - beta2), e = f(eps), s = f(stepSize);
  const np = new Float32Array(n), nv = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let gi = g0[i];
    for (const gv of rest) gi = f(gi + gv[i]);
    const vi = f(f(vv[i] * b2) + f(f(gi * gi) * omb2));
    nv[i] = vi;
    np[i] = pv[i] - f(f(gi / f(f(Math.sqrt(vi)) + e)) * s);
  }
  assignValues(v, nv);
  assignValues(p, np);
}

/**
 * avg = avg + (trained - avg) * rate, the bits of tf.add(a, tf.mul(tf.sub(t, a), rate)); trained
 * may repeat along avg's leading axes (its size divides avg's), as tfjs broadcasts it.
 */
export function lerpHost(avg: tf.Variable, trained: Tensor, rate: number): void {
  const av = hostValues(avg), tv = hostValues(trained);
  const n = av.length, m = tv.length;
  if (m === 0 || n % m !== 0) throw new Error(`host update: sizes differ (${n} and ${m})`);
  const r = f(rate);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = av[i] + f(f(tv[i % m] - av[i]) * r);
  assignValues(avg, out);
}
