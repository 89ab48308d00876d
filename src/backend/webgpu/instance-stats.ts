/**
 * The encoder's block statistics on webgpu (nn/instance-stats.ts): mean, std
 * and instance norm in one dispatch, the gradient in another, in place of 8
 * and ~15 tfjs programs. One workgroup per (sample, channel) walks the H*W
 * pixels, adding in the order of tfjs-webgpu's Mean (wgsl.ts): the forward
 * has the op chain's bits on the same device.
 *
 * Forward: mean = sum(x) / M; var = sum((x - mean)^2) / M; std = sqrt(var);
 * normed = (x - mean) / sqrt(var + eps); stats [N, 2C] holds each sample's
 * means, then its stds (the style linears' input).
 * Backward, with gn = dL/dnormed, gm = dL/dmean, gs = dL/dstd,
 * r = sqrt(std^2 + eps) and x - mean = normed r (as native/instance_stats.cc):
 *   dx = (gn - mean(gn) - normed mean(gn normed)) / r + gm / M + gs normed r / (M std)
 * A constant channel (std 0) gives NaN, as the chain and PyTorch do.
 *
 * Where R1 differentiates the backward again, it runs as TWICE_GRAD, which
 * reads x and recomputes mean, var and normed with the forward's roundings
 * (the same dx), so that its own gradient reaches x in one kernel: given
 * dL/ddx = w, with sums per pair W1 = sum w, Wy = sum w normed, Wg = sum w gn,
 * G1 = sum gn, Gy = sum gn normed:
 *   d gn = (w - W1 / M - normed Wy / M) / r;  d gm = W1 / M;  d gs = Wy r / (M std)
 *   d normed = w (gs r / (M std) - Gy / (M r)) - gn Wy / (M r)
 *   d std = std / r^3 (W1 G1 / M + Wy Gy / M - Wg) - gs eps Wy / (M r std^2)
 * (d/dstd through r = sqrt(std^2 + eps) and r / std; d mean = 0), and
 * d x = the backward above applied to (d normed, (0, d std)), with the
 * roundings of INSTANCE_STATS_GRAD run on them (a pass more over the pair,
 * no dispatch more).
 *
 * The _BLUR kernels (nn/instance-stats.ts, the encoder's blur(normed) before
 * conv_2) read the blur on the fly (wgsl.ts blurAt, the blur op's bits): the
 * forward writes blur(normed) (and normed where the gradient needs it), the
 * gradient takes blur's gradient and blurs it as it reads gn (the blur is its
 * own adjoint), and the gradient's gradient blurs its d gn as it writes it.
 */
import {
  INSTANCE_STATS, INSTANCE_STATS_BLUR, INSTANCE_STATS_BLUR_GRAD, INSTANCE_STATS_BLUR_GRAD_GRAD, INSTANCE_STATS_BLUR_TWICE_GRAD, INSTANCE_STATS_GRAD,
  INSTANCE_STATS_GRAD_GRAD, INSTANCE_STATS_TWICE_GRAD,
} from '../../nn/instance-stats.js';
import type { KernelFn, TensorInfo } from '../kernel-adapter.js';
import { type Uniforms, type WgslProgram, bindings, run, webgpuBackend } from './runner.js';
import { KEPT, PAIR_PARAMS, PAIR_PROLOGUE, blurAt, chainReduceSize, pairWorkgroups, treeSum } from './wgsl.js';

/** N, H*W, C of an NHWC tensor, checked; `stats` tensors must be [N, 2C]. */
function dims(kernel: string, x: TensorInfo | undefined, ...stats: (TensorInfo | undefined)[]): { n: number; h: number; w: number; c: number } {
  if (!x || x.shape.length !== 4) throw new Error(`${kernel}: expected an NHWC tensor, got [${x?.shape ?? ''}]`);
  const [n, h, w, c] = x.shape;
  for (const s of stats) {
    if (!s || s.shape.join() !== `${n},${2 * c}`) throw new Error(`${kernel}: statistics [${s?.shape ?? ''}] do not fit [${x.shape}] (want [${n},${2 * c}])`);
  }
  return { n, h, w, c };
}

const FIELDS = 'pairs: u32, m: u32, c: u32, eps: f32, one: f32, height: u32, width: u32';
// A pair's first value in x, and where its mean and std are in stats [N, 2C].
const PAIR = `${PAIR_PROLOGUE}
  let at = 2u * n * u.c + c;`;

// The pair's mean `mu`, variance `v` and r0 = sqrt(v + eps) from x, in the order and with the roundings
// of the forward (tfjs's Mean); normed = (x - mu) / r0. Needs treeSum and KEPT. A kernel that recomputes
// the std takes kept(sqrt(v)), as the others read it from memory: a compiler may fold sqrt(v)^2 into v.
const MOMENTS = (wg: number): string => `
  var acc = 0.0;
  for (var p = t; p < u.m; p += ${wg}u) { acc += x[base + p * u.c]; }
  let mu = tree(t, acc, u.m) / f32(u.m);
  acc = 0.0;
  for (var p = t; p < u.m; p += ${wg}u) {
    let d = x[base + p * u.c] - mu;
    acc += kept(d * d);
  }
  let v = tree(t, acc, u.m) / f32(u.m);
  let r0 = sqrt(v + u.eps);`;

/** A per-pair kernel: its bindings, helper functions, and the body of main after the pair's prologue. */
const pairKernel = (wg: number, decls: string, helpers: string, body: string): string => `
${decls}
${treeSum(wg)}
${KEPT}
${helpers}
@compute @workgroup_size(${wg})
fn main(${PAIR_PARAMS}) {
  ${PAIR}
${body}
}`;

/** The forward; blurred: out = blur(normed), and normed only where `keep`. */
const forward = (wg: number, blurred: boolean, keep: boolean): WgslProgram => ({
  name: blurred ? INSTANCE_STATS_BLUR : INSTANCE_STATS,
  key: `${wg}${keep ? 'k' : ''}`,
  code: () => pairKernel(wg, bindings(['x'], blurred ? ['out', 'stats', ...(keep ? ['normed'] : [])] : ['normed', 'stats'], FIELDS),
    blurred ? blurAt('blurNormed', 'mu: f32, r0: f32', '(x[i] - mu) / r0') : '', `
  ${MOMENTS(wg)}
  if (t == 0u) {
    stats[at] = mu;
    stats[at + u.c] = sqrt(v);
  }
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    ${blurred ? 'out[i] = blurNormed(base, p, mu, r0);' : ''}
    ${!blurred || keep ? 'normed[i] = (x[i] - mu) / r0;' : ''}
  }`),
});

// gn at element i of pixel p: the gradient of normed, or, blurred, blur of the gradient of blur(normed).
const gnAt = (blurred: boolean): string => (blurred ? 'blurGn(base, p)' : 'gn[i]');

/**
 * The backward from the forward's normed and stats, or (fromX, TWICE_GRAD) from x, recomputing
 * them: the same normed, and the std's sqrt(v) from which the kept path's r is computed.
 */
const gradName = (blurred: boolean, fromX: boolean): string =>
  fromX ? (blurred ? INSTANCE_STATS_BLUR_TWICE_GRAD : INSTANCE_STATS_TWICE_GRAD) : (blurred ? INSTANCE_STATS_BLUR_GRAD : INSTANCE_STATS_GRAD);

const backward = (wg: number, blurred: boolean, fromX: boolean): WgslProgram => ({
  name: gradName(blurred, fromX),
  key: `${wg}`,
  code: () => pairKernel(wg, bindings(fromX ? ['gn', 'dstats', 'x'] : ['gn', 'dstats', 'normed', 'stats'], ['dx'], FIELDS),
    blurred ? blurAt('blurGn', '', 'gn[i]') : '', `
  ${fromX ? `${MOMENTS(wg)}\n  let s = kept(sqrt(v));` : 'let s = stats[at + u.c];'}
  var sum2 = vec2<f32>(0.0);
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    let g = ${gnAt(blurred)};
    let y = ${fromX ? '(x[i] - mu) / r0' : 'normed[i]'};
    sum2 += vec2<f32>(g, g * y);
  }
  let sums = treeVec2(t, sum2, u.m);
  let m = f32(u.m);
  let r = sqrt(s * s + u.eps);
  let k1 = 1.0 / r;
  let k0 = dstats[at] / m - sums.x / (m * r);
  let kn = dstats[at + u.c] * r / (m * s) - sums.y / (m * r);
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    let y = ${fromX ? '(x[i] - mu) / r0' : 'normed[i]'};
    dx[i] = ${gnAt(blurred)} * k1 + k0 + y * kn;
  }`),
});

/** The gradient of TWICE_GRAD: ddx (w), gn, dstats, x -> the gradients of gn (dgn), dstats (ddstats) and x (dx). */
const backwardGrad = (wg: number, blurred: boolean): WgslProgram => ({
  name: blurred ? INSTANCE_STATS_BLUR_GRAD_GRAD : INSTANCE_STATS_GRAD_GRAD,
  key: `${wg}`,
  code: () => pairKernel(wg, bindings(['w', 'gn', 'dstats', 'x'], ['dgn', 'ddstats', 'dx'], FIELDS),
    blurred ? `${blurAt('blurGn', '', 'gn[i]')}\n${blurAt('blurDgn', 'w1: f32, wy: f32, r: f32, mu: f32, r0: f32', '(w[i] - w1 - ((x[i] - mu) / r0) * wy) / r')}` : '', `
  ${MOMENTS(wg)}
  let s = kept(sqrt(v));
  var sum4 = vec4<f32>(0.0);
  var gy = 0.0;
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    let wi = w[i];
    let yi = (x[i] - mu) / r0;
    let gi = ${gnAt(blurred)};
    sum4 += vec4<f32>(wi, wi * yi, wi * gi, gi);
    gy += gi * yi;
  }
  let sums = treeVec4(t, sum4, u.m);
  let sumGy = tree(t, gy, u.m);
  let m = f32(u.m);
  let r = sqrt(s * s + u.eps);
  let b = dstats[at + u.c];
  let w1 = sums.x / m;
  let wy = sums.y / m;
  let k = b * r / (m * s) - sumGy / (m * r);
  let kg = sums.y / (m * r);
  let dstd = s / (r * r * r) * (sums.x * sums.w / m + sums.y * sumGy / m - sums.z) - b * u.eps * sums.y / (m * r * s * s);
  // dx: the backward of (d normed, (0, d std)), summing d normed as INSTANCE_STATS_GRAD sums its input.
  var dsum = vec2<f32>(0.0);
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    let dn = w[i] * k - ${gnAt(blurred)} * kg;
    dsum += vec2<f32>(dn, dn * ((x[i] - mu) / r0));
  }
  let dsums = treeVec2(t, dsum, u.m);
  let k1 = 1.0 / r;
  let k0 = 0.0 / m - dsums.x / (m * r);
  let kn = dstd * r / (m * s) - dsums.y / (m * r);
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    let yi = (x[i] - mu) / r0;
    dgn[i] = ${blurred ? 'blurDgn(base, p, w1, wy, r, mu, r0)' : '(w[i] - w1 - yi * wy) / r'};
    let dn = w[i] * k - ${gnAt(blurred)} * kg;
    dx[i] = dn * k1 + k0 + yi * kn;
  }
  if (t == 0u) {
    ddstats[at] = w1;
    ddstats[at + u.c] = sums.y * r / (m * s);
  }`),
});

const uniforms = (n: number, h: number, w: number, c: number, eps: number): Uniforms =>
  [['u32', n * c], ['u32', h * w], ['u32', c], ['f32', eps], ['f32', 1], ['u32', h], ['u32', w]];

/** The forward: x -> [normed, stats]; blurred: [blur(normed), stats] and, with attr keep, normed. */
const statsForward = (blurred: boolean): KernelFn => ({ inputs, backend, attrs }) => {
  const b = webgpuBackend(backend);
  const { x } = inputs;
  const name = blurred ? INSTANCE_STATS_BLUR : INSTANCE_STATS;
  const { n, h, w, c } = dims(name, x);
  const keep = blurred && !!attrs?.keep;
  const out = [{ shape: x!.shape }, { shape: [n, 2 * c] }, ...(keep ? [{ shape: x!.shape }] : [])];
  return run(b, forward(chainReduceSize(b, h * w), blurred, keep), [x!], out, uniforms(n, h, w, c, Number(attrs?.eps)), pairWorkgroups(b, n * c));
};

/** The backward: dnormed, dstats and normed, stats (or, fromX, x) -> dx. */
const statsGrad = (blurred: boolean, fromX: boolean): KernelFn => ({ inputs, backend, attrs }) => {
  const b = webgpuBackend(backend);
  const name = gradName(blurred, fromX);
  const { dnormed, dstats, normed, stats, x } = inputs;
  const { n, h, w, c } = dims(name, dnormed, dstats, ...(fromX ? [] : [stats]));
  const like = fromX ? x : normed;
  if (like?.shape.join() !== dnormed!.shape.join()) throw new Error(`${name}: [${like?.shape ?? ''}] is not [${dnormed!.shape}]`);
  const [dx] = run(b, backward(chainReduceSize(b, h * w), blurred, fromX), [dnormed!, dstats!, ...(fromX ? [x!] : [normed!, stats!])], [{ shape: dnormed!.shape }],
    uniforms(n, h, w, c, Number(attrs?.eps)), pairWorkgroups(b, n * c));
  return dx;
};

const statsGradGrad = (blurred: boolean): KernelFn => ({ inputs, backend, attrs }) => {
  const b = webgpuBackend(backend);
  const name = blurred ? INSTANCE_STATS_BLUR_GRAD_GRAD : INSTANCE_STATS_GRAD_GRAD;
  const { ddx, dnormed, dstats, x } = inputs;
  const { n, h, w, c } = dims(name, ddx, dstats);
  for (const t of [dnormed, x]) {
    if (t?.shape.join() !== ddx!.shape.join()) throw new Error(`${name}: [${t?.shape ?? ''}] is not [${ddx!.shape}]`);
  }
  return run(b, backwardGrad(chainReduceSize(b, h * w), blurred), [ddx!, dnormed!, dstats!, x!],
    [{ shape: ddx!.shape }, { shape: [n, 2 * c] }, { shape: ddx!.shape }], uniforms(n, h, w, c, Number(attrs?.eps)), pairWorkgroups(b, n * c));
};

export const webgpuInstanceStats = statsForward(false);
export const webgpuInstanceStatsGrad = statsGrad(false, false);
export const webgpuInstanceStatsTwiceGrad = statsGrad(false, true);
export const webgpuInstanceStatsGradGrad = statsGradGrad(false);
export const webgpuInstanceStatsBlur = statsForward(true);
export const webgpuInstanceStatsBlurGrad = statsGrad(true, false);
export const webgpuInstanceStatsBlurTwiceGrad = statsGrad(true, true);
export const webgpuInstanceStatsBlurGradGrad = statsGradGrad(true);
