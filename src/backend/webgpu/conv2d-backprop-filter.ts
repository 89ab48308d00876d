/**
 * Conv2DBackpropFilter on webgpu: the filter gradient as an implicit GEMM
 * (conv-gemm.ts) with the long reduction split across workgroups.
 *
 *   dw[ky, kx, c, o] = sum over (b, oy, ox) of x[b, oy*s - pad + ky, ox*s - pad + kx, c] * dy[b, oy, ox, o]
 *
 * Rows are filter taps (ky, kx, c), columns output channels, and k runs over
 * batch x height x width: up to millions of steps against a few hundred
 * rows. The k range is cut into `splits` chunks, one per dispatch z, each
 * writing a partial sum, and a second pass adds the partials in a fixed
 * order (the result does not depend on scheduling); a single chunk writes
 * dw directly. Float32 accumulation, as native's filter gradient: parity
 * does not need more (the forward's exact sums are what it needs).
 */
import { tf } from '../../tf.js';
import { gemmTiles, runGemm, runWgsl, type WebGpuBackendLike } from './conv-gemm.js';
import { geometryKey, inputWindowWgsl, type ConvGeometry } from './conv-geometry.js';

type TensorInfo = tf.TensorInfo;

/** Workgroups to aim for: enough to fill a large GPU (132 SMs on an H100/H200) a few times over. */
const TARGET_WORKGROUPS = 512;
/**
 * k steps a workgroup takes at least; shorter reductions (4 chunks or less)
 * are not split, since the second dispatch then costs about what it saves.
 */
const MIN_CHUNK = 1024;
/** Bound on the partials buffer, in floats (64 MiB). */
const MAX_PARTIAL_FLOATS = 1 << 24;

/** How the reduction of K steps over an M x N gradient is split: chunk length (a multiple of the tile depth) and count. */
export function filterSplits(M: number, N: number, K: number): { chunk: number; splits: number } {
  const { TM, TN, TK } = gemmTiles(M, N);
  const tiles = Math.ceil(M / TM) * Math.ceil(N / TN);
  const wanted = K <= 4 * MIN_CHUNK ? 1 : Math.ceil(TARGET_WORKGROUPS / tiles);
  const byLength = Math.floor(K / MIN_CHUNK);
  const byMemory = Math.floor(MAX_PARTIAL_FLOATS / (M * N));
  const splits = Math.max(1, Math.min(wanted, byLength, byMemory));
  const chunk = Math.ceil(Math.ceil(K / splits) / TK) * TK;
  return { chunk, splits: Math.ceil(K / chunk) };
}

/** dw [KH,KW,C,O] from x [N,H,W,C] and dy [N,OH,OW,O]. */
export function conv2dBackpropFilter(backend: WebGpuBackendLike, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  const { outH: OH, outW: OW, outC: O } = g;
  const M = g.kH * g.kW * g.inC;
  const K = g.batch * OH * OW;
  const { chunk, splits } = filterSplits(M, O, K);
  const direct = splits === 1;
  const size = M * O;
  const code = /* wgsl */ `
fn kRange(z: i32) -> vec2<i32> { return vec2<i32>(z * ${chunk}, min(${K}, (z + 1) * ${chunk})); }
${inputWindowWgsl(g)}
fn aK(k: i32, z: i32) -> vec4<i32> { return windowOf(k); }
fn aRow(m: i32, z: i32) -> vec4<i32> { return tapOf(m); }
fn loadA(q: vec4<i32>, r: vec4<i32>) -> f32 { return inputAt(q, r); }
fn bK(k: i32, z: i32) -> vec4<i32> { return vec4<i32>(k * ${O}, 0, 0, 0); }
fn bCol(n: i32, z: i32) -> vec4<i32> { return vec4<i32>(n, 0, 0, 0); }
fn loadB(q: vec4<i32>, c: vec4<i32>) -> f32 { return dy[q.x + c.x]; }
fn store(m: i32, n: i32, z: i32, hi: f32, lo: f32) { result[${direct ? '' : `z * ${size} + `}m * ${O} + n] = hi; }`;
  const filterShape = [g.kH, g.kW, g.inC, O];
  const partial = runGemm(backend, {
    key: `conv2dDw_${geometryKey(g)}_${chunk}`,
    M, N: O, kMax: chunk, Z: splits, exact: false,
    inputs: ['x', 'dy'],
    outputShape: direct ? filterShape : [splits, size],
    code, bAlongK: false,
  }, [x, dy]);
  if (direct) return partial;
  const out = runWgsl(backend, {
    key: `conv2dDwSum_${size}_${splits}`,
    inputs: ['partial'], outputShape: filterShape, workgroups: Math.ceil(size / 64), threads: 64,
    code: `
fn main() {
  let i = (i32(workgroupId.x) + i32(workgroupId.y) * i32(numWorkgroups.x)) * 64 + i32(localIndex);
  if (i < ${size}) {
    var s = 0.0;
    for (var z = 0; z < ${splits} + i32(uniforms.zero); z++) { s = s + partial[z * ${size} + i]; }
    result[i] = s;
  }
}`,
  }, [partial]);
  backend.disposeData(partial.dataId);
  return out;
}
