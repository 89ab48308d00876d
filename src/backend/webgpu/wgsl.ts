/**
 * WGSL pieces the per-(sample, channel) kernels share (style-epilogue.ts,
 * instance-stats.ts): the sums in the order tfjs-webgpu's Mean and Sum
 * programs add (so a fused kernel's statistics have the op chain's bits),
 * and a product kept apart from the sum it feeds.
 */
import type { WebGPUBackendLike } from './runner.js';

/**
 * The workgroup size of tfjs-webgpu 4.22's ReduceProgram for a reduction over
 * `m` values (reduce_webgpu.js): its threads each add a strided run, then a
 * tree adds the partial sums; the same size gives the same order.
 */
export function chainReduceSize(b: WebGPUBackendLike, m: number): number {
  if (m >= 32768 && b.device.limits.maxComputeWorkgroupSizeX >= 512) return 512;
  return m >= 4096 ? 256 : 64;
}

/**
 * `fn tree(t, v, count) -> f32`: the sum over a workgroup of size `wg` of each
 * thread's v, added in tfjs's tree order (pairs `interval` apart, halving),
 * for a reduction of `count` values (threads past it hold 0). Every thread
 * gets the total; call it in uniform control flow. `treeVec2` and `treeVec4`
 * add two or four sums at once, each in the same order.
 */
export const treeSum = (wg: number): string => `
var<workgroup> red: array<vec4<f32>, ${wg}>;
fn treeVec4(t: u32, v: vec4<f32>, count: u32) -> vec4<f32> {
  red[t] = v;
  workgroupBarrier();
  var size = min(count, ${wg}u);
  loop {
    if (size <= 1u) { break; }
    let interval = (size + 1u) / 2u;
    if (t < size / 2u) { red[t] = red[t] + red[t + interval]; }
    size = interval;
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}
fn treeVec2(t: u32, v: vec2<f32>, count: u32) -> vec2<f32> { return treeVec4(t, vec4<f32>(v, 0.0, 0.0), count).xy; }
fn tree(t: u32, v: f32, count: u32) -> f32 { return treeVec4(t, vec4<f32>(v, 0.0, 0.0, 0.0), count).x; }
`;

/**
 * `fn kept(p) -> f32`: the product p rounded on its own, as the op chain's
 * separate kernel rounds it. WGSL lets a compiler fuse a * b + c into one
 * rounding (spec 15.7.5, reassociation and fusion); a product multiplied by
 * a uniform 1.0 it cannot see through is not fused. Used where the chain's
 * rounding decides a leaky-ReLU kink or a sum must match the chain's bits.
 * Needs a uniform field `one` (1.0) in the struct `u`.
 */
export const KEPT = 'fn kept(p: f32) -> f32 { return p * u.one; }';

/**
 * step(y, 0.2) from y's bits: NaN stays NaN, 1 where y > 0 (sign clear, not
 * zero: a subnormal y counts even where the device flushes subnormals in
 * arithmetic), else 0.2.
 */
export const LEAKY_MASK = `
fn leakyMask(y: f32) -> f32 {
  let b = bitcast<u32>(y);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return y; }
  return select(0.2, 1.0, b != 0u && b < 0x80000000u);
}`;

/**
 * `fn leakyTwice(v) -> f32`: the twice-differentiable leaky ReLU's value 0.2 v + 0.8 relu(v) with
 * the roundings of BIAS_LEAKY_TWICE (leaky-twice.ts), each product kept apart as KEPT does, here
 * through a uniform field `zero` (0u: an xor the compiler cannot see through), as conv-gemm.ts's
 * programs have.
 */
export const LEAKY_TWICE_ZERO = /* wgsl */ `
fn keptZ(p: f32) -> f32 { return bitcast<f32>(bitcast<u32>(p) ^ u.zero); }
fn leakyTwice(v: f32) -> f32 { return keptZ(v * 0.2) + keptZ(select(v, 0.0, v < 0.0) * 0.8); }`;

/** Workgroups for one workgroup per (sample, channel) pair: x, spilling into y past the device's limit. */
export function pairWorkgroups(b: WebGPUBackendLike, pairs: number): [number, number, number] {
  const max = b.device.limits.maxComputeWorkgroupsPerDimension;
  if (pairs <= max) return [pairs, 1, 1];
  const y = Math.ceil(pairs / max);
  return [Math.ceil(pairs / y), y, 1];
}

/** The entry point's parameters of a pairWorkgroups dispatch (t: the thread in its workgroup). */
export const PAIR_PARAMS = '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32';

/** The workgroup's index in a pairWorkgroups dispatch (may run past the last: check). */
export const PAIR_INDEX = 'wid.y * nwg.x + wid.x';

/**
 * The start of a per-(sample, channel) kernel over NHWC values (uniforms
 * pairs = N*C, m = H*W, c = C): its pair, sample n, channel c and `base`,
 * the index of its first value (the others follow every c).
 */
export const PAIR_PROLOGUE = `
  let pair = ${PAIR_INDEX};
  if (pair >= u.pairs) { return; }
  let n = pair / u.c;
  let c = pair % u.c;
  let base = n * u.m * u.c + c;`;

/**
 * `fn NAME(base: u32, p: u32, PARAMS) -> f32`: the blur of nn/ops.ts (3x3,
 * [1,2,1] x [1,2,1] / 16, zero padding) at pixel p of the pair whose first
 * value is at `base`, over the values `expr` gives for element `i` (an index
 * into the NHWC tensor). The taps are added as tfjs-webgpu's DepthwiseConv2D
 * programs add them (from 0, row by row, left to right, the padding
 * skipped) and the products by the power-of-two taps are exact, so a kernel
 * that reads blur(v) this way gets the blur op's bits without its dispatch.
 * Needs uniform fields height, width and c; `expr` must not use the names
 * tr, tc, row, col.
 */
export const blurAt = (name: string, params: string, expr: string): string => `
fn ${name}(base: u32, p: u32${params ? `, ${params}` : ''}) -> f32 {
  let y0 = i32(p / u.width);
  let x0 = i32(p % u.width);
  var acc = 0.0;
  for (var tr = -1; tr <= 1; tr++) {
    let row = y0 + tr;
    if (row < 0 || row >= i32(u.height)) { continue; }
    for (var tc = -1; tc <= 1; tc++) {
      let col = x0 + tc;
      if (col < 0 || col >= i32(u.width)) { continue; }
      let i = base + (u32(row) * u.width + u32(col)) * u.c;
      acc += (${expr}) * (f32((2 - abs(tr)) * (2 - abs(tc))) * 0.0625);
    }
  }
  return acc;
}`;
