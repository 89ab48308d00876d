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
 * With a Resample (conv-geometry.ts), x or dy is read up-sampled.
 */
import type { TensorInfo } from '../kernel-adapter.js';
import { ZERO_FIELD, ZERO_UNIFORM, type GemmSpec, gemm, gemmTiles, runGemm } from './conv-gemm.js';
import { type ConvGeometry, type Resample, geometryKey, inputWindowWgsl, scaledWgsl } from './conv-geometry.js';
import { FLAT_PARAMS, type WebGPUBackendLike, type WgslProgram, bindings, dispatch, flatIndex, flatWorkgroups, outputs, scratch } from './runner.js';

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

/** The second pass: dw[i] = the sum of partial[z * size + i] over z, in order. */
const sumProgram = (size: number, splits: number): WgslProgram => ({
  name: 'AlaeConv2DBackpropFilterSum',
  key: `${size}_${splits}`,
  code: () => `
${bindings(['partial'], ['result'], ZERO_FIELD)}
@compute @workgroup_size(64)
fn main(${FLAT_PARAMS}) {
  let i = i32(${flatIndex(64)});
  if (i < ${size}) {
    var s = 0.0;
    for (var z = 0; z < ${splits} + i32(u.zero); z++) { s = s + partial[z * ${size} + i]; }
    result[i] = s;
  }
}`,
});

/** dw [KH,KW,C,O] from x [N,H,W,C] and dy [N,OH,OW,O], or with `resample` of the fine convolution g. */
export function conv2dBackpropFilter(backend: WebGPUBackendLike, x: TensorInfo, dy: TensorInfo, g: ConvGeometry, resample?: Resample): TensorInfo {
  const { outH: OH, outW: OW, outC: O } = g;
  const upDy = resample?.coarse === 'output';
  const M = g.kH * g.kW * g.inC;
  const K = g.batch * OH * OW;
  const { chunk, splits } = filterSplits(M, O, K);
  const direct = splits === 1;
  const size = M * O;
  const code = /* wgsl */ `
fn kRange(z: i32) -> vec2<i32> { return vec2<i32>(z * ${chunk}, min(${K}, (z + 1) * ${chunk})); }
${inputWindowWgsl(g, resample?.coarse === 'input' ? resample.scale : undefined)}
fn aK(k: i32, z: i32) -> vec4<i32> { return windowOf(k); }
fn aRow(m: i32, z: i32) -> vec4<i32> { return tapOf(m); }
fn loadA(q: vec4<i32>, r: vec4<i32>) -> f32 { return inputAt(q, r); }
// Output pixel k = (t, ox), t = b * OH + oy; a coarse dy holds it at (t / 2, ox / 2) (OH even).
fn bK(k: i32, z: i32) -> vec4<i32> { return vec4<i32>(${upDy ? `(k / ${OW} / 2 * ${OW / 2} + k % ${OW} / 2)` : 'k'} * ${O}, 0, 0, 0); }
fn bCol(n: i32, z: i32) -> vec4<i32> { return vec4<i32>(n, 0, 0, 0); }
fn loadB(q: vec4<i32>, c: vec4<i32>) -> f32 { return ${scaledWgsl('dy[q.x + c.x]', upDy ? resample.scale : 1)}; }
fn store(m: i32, n: i32, z: i32, hi: f32, lo: f32) { result[${direct ? '' : `z * ${size} + `}m * ${O} + n] = hi; }`;
  const spec: GemmSpec = {
    name: resample ? 'AlaeConv2DBackpropFilterResample' : 'AlaeConv2DBackpropFilter',
    key: `${geometryKey(g)}_${chunk}${resample ? `_${resample.coarse}${resample.scale}` : ''}`,
    M, N: O, kMax: chunk, Z: splits, exact: false,
    inputs: ['x', 'dy'],
    code, bAlongK: false,
  };
  const filterShape = [g.kH, g.kW, g.inC, O];
  if (direct) return runGemm(backend, spec, [x, dy], filterShape);
  // The partial sums live in a scratch buffer, released once the commands that use it are submitted.
  const partial = scratch(backend, splits * size * 4);
  gemm(backend, spec, [x, dy], { buffer: partial });
  const [dw] = outputs(backend, [{ shape: filterShape }]);
  dispatch(backend, sumProgram(size, splits), [{ buffer: partial }, { tensor: dw, write: true }], ZERO_UNIFORM, flatWorkgroups(backend, size, 64));
  return dw;
}
