/**
 * The encoder's block statistics on webgpu (nn/instance-stats.ts): mean, std
 * and instance norm in one dispatch, the gradient in another, in place of 8
 * and ~15 tfjs programs. One workgroup per (sample, channel) walks the H*W
 * pixels, adding in the order of tfjs-webgpu's Mean (wgsl.ts): the forward
 * has the op chain's bits on the same device.
 *
 * Forward: mean = sum(x) / M; var = sum((x - mean)^2) / M; std = sqrt(var);
 * normed = (x - mean) / sqrt(var + eps).
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
 */
import { INSTANCE_STATS, INSTANCE_STATS_GRAD, INSTANCE_STATS_GRAD_GRAD } from '../../nn/instance-stats.js';
import type { KernelFn, TensorInfo } from '../kernel-adapter.js';
import { type Uniforms, type WgslProgram, copy, dispatch, outputs, run, scratch, webgpuBackend } from './runner.js';
import { KEPT, PAIR_INDEX, chainReduceSize, pairWorkgroups, treeSum } from './wgsl.js';

/** N, H*W, C of an NHWC tensor, checked; `stats` tensors must be [N, 1, 1, C]. */
function dims(kernel: string, x: TensorInfo | undefined, ...stats: (TensorInfo | undefined)[]): { n: number; m: number; c: number } {
  if (!x || x.shape.length !== 4) throw new Error(`${kernel}: expected an NHWC tensor, got [${x?.shape ?? ''}]`);
  const [n, h, w, c] = x.shape;
  for (const s of stats) {
    if (!s || s.shape.join() !== `${n},1,1,${c}`) throw new Error(`${kernel}: statistics [${s?.shape ?? ''}] do not fit [${x.shape}] (want [${n},1,1,${c}])`);
  }
  return { n, m: h * w, c };
}

const UNIFORMS = 'struct U { pairs: u32, m: u32, c: u32, eps: f32, one: f32 }';
const MAIN = `@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32`;
const PAIR = `
  let pair = ${PAIR_INDEX};
  if (pair >= u.pairs) { return; }
  let base = (pair / u.c) * u.m * u.c + pair % u.c;`;

const forward = (wg: number): WgslProgram => ({
  name: INSTANCE_STATS,
  key: `${wg}`,
  code: () => `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> normed: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> sd: array<f32>;
${UNIFORMS}
@group(0) @binding(4) var<uniform> u: U;
${treeSum(wg)}
${KEPT}
@compute @workgroup_size(${wg})
fn main(${MAIN}) {
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
    mean[pair] = mu;
    sd[pair] = sqrt(v);
  }
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    normed[i] = (x[i] - mu) / r;
  }
}`,
});

const backward = (wg: number): WgslProgram => ({
  name: INSTANCE_STATS_GRAD,
  key: `${wg}`,
  code: () => `
@group(0) @binding(0) var<storage, read> gn: array<f32>;
@group(0) @binding(1) var<storage, read> gm: array<f32>;
@group(0) @binding(2) var<storage, read> gs: array<f32>;
@group(0) @binding(3) var<storage, read> normed: array<f32>;
@group(0) @binding(4) var<storage, read> sd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
${UNIFORMS}
@group(0) @binding(6) var<uniform> u: U;
${treeSum(wg)}
@compute @workgroup_size(${wg})
fn main(${MAIN}) {
  ${PAIR}
  var acc = vec2<f32>(0.0);
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    acc += vec2<f32>(gn[i], gn[i] * normed[i]);
  }
  let sums = treeVec2(t, acc, u.m);
  let m = f32(u.m);
  let s = sd[pair];
  let r = sqrt(s * s + u.eps);
  let k1 = 1.0 / r;
  let k0 = gm[pair] / m - sums.x / (m * r);
  let kn = gs[pair] * r / (m * s) - sums.y / (m * r);
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    dx[i] = gn[i] * k1 + k0 + normed[i] * kn;
  }
}`,
});

const backwardGrad = (wg: number): WgslProgram => ({
  name: INSTANCE_STATS_GRAD_GRAD,
  key: `${wg}`,
  code: () => `
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read> gn: array<f32>;
@group(0) @binding(2) var<storage, read> gs: array<f32>;
@group(0) @binding(3) var<storage, read> normed: array<f32>;
@group(0) @binding(4) var<storage, read> sd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgn: array<f32>;
@group(0) @binding(6) var<storage, read_write> dnormed: array<f32>;
// Per pair: d gm, then d gs, then d std (each u.pairs long).
@group(0) @binding(7) var<storage, read_write> scalars: array<f32>;
${UNIFORMS}
@group(0) @binding(8) var<uniform> u: U;
${treeSum(wg)}
@compute @workgroup_size(${wg})
fn main(${MAIN}) {
  ${PAIR}
  var acc = vec4<f32>(0.0);
  var gy = 0.0;
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    let wi = w[i];
    let yi = normed[i];
    let gi = gn[i];
    acc += vec4<f32>(wi, wi * yi, wi * gi, gi);
    gy += gi * yi;
  }
  let sums = treeVec4(t, acc, u.m);
  let sumGy = tree(t, gy, u.m);
  let m = f32(u.m);
  let s = sd[pair];
  let r = sqrt(s * s + u.eps);
  let b = gs[pair];
  let w1 = sums.x / m;
  let wy = sums.y / m;
  let k = b * r / (m * s) - sumGy / (m * r);
  let kg = sums.y / (m * r);
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    dgn[i] = (w[i] - w1 - normed[i] * wy) / r;
    dnormed[i] = w[i] * k - gn[i] * kg;
  }
  if (t == 0u) {
    scalars[pair] = w1;
    scalars[u.pairs + pair] = sums.y * r / (m * s);
    scalars[2u * u.pairs + pair] = s / (r * r * r) * (sums.x * sums.w / m + sums.y * sumGy / m - sums.z) - b * u.eps * sums.y / (m * r * s * s);
  }
}`,
});

const uniforms = (n: number, m: number, c: number, eps: number): Uniforms =>
  [['u32', n * c], ['u32', m], ['u32', c], ['f32', eps], ['f32', 1]];

export const webgpuInstanceStats: KernelFn = ({ inputs, backend, attrs }) => {
  const b = webgpuBackend(backend);
  const { x } = inputs;
  const { n, m, c } = dims(INSTANCE_STATS, x);
  return run(b, forward(chainReduceSize(b, m)), [x!], [{ shape: x!.shape }, { shape: [n, 1, 1, c] }, { shape: [n, 1, 1, c] }],
    uniforms(n, m, c, Number(attrs?.eps)), pairWorkgroups(b, n * c));
};

export const webgpuInstanceStatsGrad: KernelFn = ({ inputs, backend, attrs }) => {
  const b = webgpuBackend(backend);
  const { dnormed, dmean, dstd, normed, std } = inputs;
  const { n, m, c } = dims(INSTANCE_STATS_GRAD, dnormed, dmean, dstd, std);
  if (normed?.shape.join() !== dnormed!.shape.join()) throw new Error(`${INSTANCE_STATS_GRAD}: normed [${normed?.shape ?? ''}] is not [${dnormed!.shape}]`);
  const [dx] = run(b, backward(chainReduceSize(b, m)), [dnormed!, dmean!, dstd!, normed, std!], [{ shape: dnormed!.shape }],
    uniforms(n, m, c, Number(attrs?.eps)), pairWorkgroups(b, n * c));
  return dx;
};

export const webgpuInstanceStatsGradGrad: KernelFn = ({ inputs, backend, attrs }) => {
  const b = webgpuBackend(backend);
  const { ddx, dnormed, dstd, normed, std } = inputs;
  const { n, m, c } = dims(INSTANCE_STATS_GRAD_GRAD, ddx, dstd, std);
  for (const t of [dnormed, normed]) {
    if (t?.shape.join() !== ddx!.shape.join()) throw new Error(`${INSTANCE_STATS_GRAD_GRAD}: [${t?.shape ?? ''}] is not [${ddx!.shape}]`);
  }
  const pairs = [n, 1, 1, c];
  const [dgn, dgm, dgs, dy, ds] = outputs(b, [{ shape: ddx!.shape }, { shape: pairs }, { shape: pairs }, { shape: ddx!.shape }, { shape: pairs }]);
  if (n * m * c === 0) return [dgn, dgm, dgs, dy, ds];
  const scalars = scratch(b, 12 * n * c);
  dispatch(b, backwardGrad(chainReduceSize(b, m)), [
    ...[ddx!, dnormed!, dstd!, normed!, std!].map((tensor) => ({ tensor })),
    { tensor: dgn, write: true }, { tensor: dy, write: true }, { buffer: scalars, write: true },
  ], uniforms(n, m, c, Number(attrs?.eps)), pairWorkgroups(b, n * c));
  [dgm, dgs, ds].forEach((t, k) => copy(b, { buffer: scalars }, 4 * k * n * c, { tensor: t }, 0, 4 * n * c));
  return [dgn, dgm, dgs, dy, ds];
};
