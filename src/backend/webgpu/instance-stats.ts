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
 * The backward's own gradient (R1 differentiates it again), given dL/ddx = w,
 * with sums per pair W1 = sum w, Wy = sum w normed, Wg = sum w gn,
 * G1 = sum gn, Gy = sum gn normed:
 *   d gn = (w - W1 / M - normed Wy / M) / r;  d gm = W1 / M;  d gs = Wy r / (M std)
 *   d normed = w (gs r / (M std) - Gy / (M r)) - gn Wy / (M r)
 *   d std = std / r^3 (W1 G1 / M + Wy Gy / M - Wg) - gs eps Wy / (M r std^2)
 * (d/dstd through r = sqrt(std^2 + eps) and r / std).
 *
 * The _BLUR kernels (nn/instance-stats.ts, the encoder's blur(normed) before
 * conv_2) read the blur on the fly (wgsl.ts blurAt, the blur op's bits): the
 * forward writes blur(normed) (and normed where the gradient needs it), the
 * gradient takes blur's gradient and blurs it as it reads gn (the blur is its
 * own adjoint), and the gradient's gradient blurs its d gn as it writes it.
 */
import {
  INSTANCE_STATS, INSTANCE_STATS_BLUR, INSTANCE_STATS_BLUR_GRAD, INSTANCE_STATS_BLUR_GRAD_GRAD, INSTANCE_STATS_GRAD, INSTANCE_STATS_GRAD_GRAD,
} from '../../nn/instance-stats.js';
import type { KernelFn, TensorInfo } from '../kernel-adapter.js';
import { type Uniforms, type WgslProgram, bindings, copy, dispatch, outputs, run, scratch, webgpuBackend } from './runner.js';
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

/** The forward; blurred: out = blur(normed), and normed only where `keep`. */
const forward = (wg: number, blurred: boolean, keep: boolean): WgslProgram => ({
  name: blurred ? INSTANCE_STATS_BLUR : INSTANCE_STATS,
  key: `${wg}${keep ? 'k' : ''}`,
  code: () => `
${bindings(['x'], blurred ? ['out', 'stats', ...(keep ? ['normed'] : [])] : ['normed', 'stats'], FIELDS)}
${treeSum(wg)}
${KEPT}
${blurred ? blurAt('blurNormed', 'mu: f32, r: f32', '(x[i] - mu) / r') : ''}
@compute @workgroup_size(${wg})
fn main(${PAIR_PARAMS}) {
  ${PAIR}
  var acc = 0.0;
  for (var p = t; p < u.m; p += ${wg}u) { acc += x[base + p * u.c]; }
  let mu = tree(t, acc, u.m) / f32(u.m);
  acc = 0.0;
  for (var p = t; p < u.m; p += ${wg}u) {
    let d = x[base + p * u.c] - mu;
    acc += kept(d * d);
  }
  let v = tree(t, acc, u.m) / f32(u.m);
  let r = sqrt(v + u.eps);
  if (t == 0u) {
    stats[at] = mu;
    stats[at + u.c] = sqrt(v);
  }
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    ${blurred ? 'out[i] = blurNormed(base, p, mu, r);' : ''}
    ${!blurred || keep ? 'normed[i] = (x[i] - mu) / r;' : ''}
  }
}`,
});

// gn at element i of pixel p: the gradient of normed, or, blurred, blur of the gradient of blur(normed).
const gnAt = (blurred: boolean): string => (blurred ? 'blurGn(base, p)' : 'gn[i]');

const backward = (wg: number, blurred: boolean): WgslProgram => ({
  name: blurred ? INSTANCE_STATS_BLUR_GRAD : INSTANCE_STATS_GRAD,
  key: `${wg}`,
  code: () => `
${bindings(['gn', 'dstats', 'normed', 'stats'], ['dx'], FIELDS)}
${treeSum(wg)}
${blurred ? blurAt('blurGn', '', 'gn[i]') : ''}
@compute @workgroup_size(${wg})
fn main(${PAIR_PARAMS}) {
  ${PAIR}
  var acc = vec2<f32>(0.0);
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    let g = ${gnAt(blurred)};
    acc += vec2<f32>(g, g * normed[i]);
  }
  let sums = treeVec2(t, acc, u.m);
  let m = f32(u.m);
  let s = stats[at + u.c];
  let r = sqrt(s * s + u.eps);
  let k1 = 1.0 / r;
  let k0 = dstats[at] / m - sums.x / (m * r);
  let kn = dstats[at + u.c] * r / (m * s) - sums.y / (m * r);
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    dx[i] = ${gnAt(blurred)} * k1 + k0 + normed[i] * kn;
  }
}`,
});

const backwardGrad = (wg: number, blurred: boolean): WgslProgram => ({
  name: blurred ? INSTANCE_STATS_BLUR_GRAD_GRAD : INSTANCE_STATS_GRAD_GRAD,
  key: `${wg}`,
  code: () => `
// scalars is laid out as stats, twice: the gradients of dstats (gm, gs), then of stats (mean: none, std).
${bindings(['w', 'gn', 'dstats', 'normed', 'stats'], ['dgn', 'dnormed', 'scalars'], FIELDS)}
${treeSum(wg)}
${blurred ? `${blurAt('blurGn', '', 'gn[i]')}
${blurAt('blurDgn', 'w1: f32, wy: f32, r: f32', '(w[i] - w1 - normed[i] * wy) / r')}` : ''}
@compute @workgroup_size(${wg})
fn main(${PAIR_PARAMS}) {
  ${PAIR}
  var acc = vec4<f32>(0.0);
  var gy = 0.0;
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    let wi = w[i];
    let yi = normed[i];
    let gi = ${gnAt(blurred)};
    acc += vec4<f32>(wi, wi * yi, wi * gi, gi);
    gy += gi * yi;
  }
  let sums = treeVec4(t, acc, u.m);
  let sumGy = tree(t, gy, u.m);
  let m = f32(u.m);
  let s = stats[at + u.c];
  let r = sqrt(s * s + u.eps);
  let b = dstats[at + u.c];
  let w1 = sums.x / m;
  let wy = sums.y / m;
  let k = b * r / (m * s) - sumGy / (m * r);
  let kg = sums.y / (m * r);
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    dgn[i] = ${blurred ? 'blurDgn(base, p, w1, wy, r)' : '(w[i] - w1 - normed[i] * wy) / r'};
    dnormed[i] = w[i] * k - ${gnAt(blurred)} * kg;
  }
  if (t == 0u) {
    let second = 2u * u.pairs;
    scalars[at] = w1;
    scalars[at + u.c] = sums.y * r / (m * s);
    scalars[second + at] = 0.0;
    scalars[second + at + u.c] = s / (r * r * r) * (sums.x * sums.w / m + sums.y * sumGy / m - sums.z) - b * u.eps * sums.y / (m * r * s * s);
  }
}`,
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

const statsGrad = (blurred: boolean): KernelFn => ({ inputs, backend, attrs }) => {
  const b = webgpuBackend(backend);
  const name = blurred ? INSTANCE_STATS_BLUR_GRAD : INSTANCE_STATS_GRAD;
  const { dnormed, dstats, normed, stats } = inputs;
  const { n, h, w, c } = dims(name, dnormed, dstats, stats);
  if (normed?.shape.join() !== dnormed!.shape.join()) throw new Error(`${name}: normed [${normed?.shape ?? ''}] is not [${dnormed!.shape}]`);
  const [dx] = run(b, backward(chainReduceSize(b, h * w), blurred), [dnormed!, dstats!, normed, stats!], [{ shape: dnormed!.shape }],
    uniforms(n, h, w, c, Number(attrs?.eps)), pairWorkgroups(b, n * c));
  return dx;
};

const statsGradGrad = (blurred: boolean): KernelFn => ({ inputs, backend, attrs }) => {
  const b = webgpuBackend(backend);
  const name = blurred ? INSTANCE_STATS_BLUR_GRAD_GRAD : INSTANCE_STATS_GRAD_GRAD;
  const { ddx, dnormed, dstats, normed, stats } = inputs;
  const { n, h, w, c } = dims(name, ddx, dstats, stats);
  for (const t of [dnormed, normed]) {
    if (t?.shape.join() !== ddx!.shape.join()) throw new Error(`${name}: [${t?.shape ?? ''}] is not [${ddx!.shape}]`);
  }
  const [ddnormed, ddstats, dnormedOut, dstatsOut] = outputs(b, [{ shape: ddx!.shape }, { shape: [n, 2 * c] }, { shape: ddx!.shape }, { shape: [n, 2 * c] }]);
  if (n * h * w * c === 0) return [ddnormed, ddstats, dnormedOut, dstatsOut];
  const scalars = scratch(b, 16 * n * c);
  dispatch(b, backwardGrad(chainReduceSize(b, h * w), blurred), [
    ...[ddx!, dnormed!, dstats!, normed!, stats!].map((tensor) => ({ tensor })),
    { tensor: ddnormed, write: true }, { tensor: dnormedOut, write: true }, { buffer: scalars, write: true },
  ], uniforms(n, h, w, c, Number(attrs?.eps)), pairWorkgroups(b, n * c));
  copy(b, { buffer: scalars }, 0, { tensor: ddstats }, 0, 8 * n * c);
  copy(b, { buffer: scalars }, 8 * n * c, { tensor: dstatsOut }, 0, 8 * n * c);
  return [ddnormed, ddstats, dnormedOut, dstatsOut];
};

export const webgpuInstanceStats = statsForward(false);
export const webgpuInstanceStatsGrad = statsGrad(false);
export const webgpuInstanceStatsGradGrad = statsGradGrad(false);
export const webgpuInstanceStatsBlur = statsForward(true);
export const webgpuInstanceStatsBlurGrad = statsGrad(true);
export const webgpuInstanceStatsBlurGradGrad = statsGradGrad(true);
