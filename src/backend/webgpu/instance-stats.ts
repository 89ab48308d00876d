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
 */
import { INSTANCE_STATS, INSTANCE_STATS_GRAD } from '../../nn/instance-stats.js';
import type { KernelFn, TensorInfo } from '../kernel-adapter.js';
import { type Uniforms, type WgslProgram, run, webgpuBackend } from './runner.js';
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
