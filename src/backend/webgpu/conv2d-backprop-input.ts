/**
 * Conv2DBackpropInput on webgpu (the input gradient of a conv, and the
 * forward of conv2dTranspose) as one implicit GEMM (conv-gemm.ts).
 *
 *   dx[b, iy, ix, c] = sum over (ky, kx, o) with iy = oy*s - pad + ky
 *                      of dy[b, oy, ix', o] * w[ky, kx, c, o]
 *
 * With stride s only the taps ky = (iy + pad) mod s (+ s j) reach a given
 * iy, so the output is computed in s*s phases (iy mod s, ix mod s), one per
 * dispatch z: each phase is a dense GEMM over its own taps (k = (jy, jx, o))
 * with no multiplications by the zeros a transposed conv's dilated input
 * would have. Stride 1 is one phase over every tap. Float32 accumulation,
 * as native's (parity needs exact sums in the forward only).
 * With a Resample (stride 1; conv-geometry.ts), dy is read up-sampled, or
 * each dx is the average of four sums (conv-gemm.ts's rowQuads).
 */
import type { TensorInfo } from '../kernel-adapter.js';
import { runGemm } from './conv-gemm.js';
import { type ConvGeometry, type Resample, averagedStoreWgsl, geometryKey, quadRowsWgsl, scaledWgsl } from './conv-geometry.js';
import type { WebGPUBackendLike } from './runner.js';

/** dx [N,H,W,C] from dy [N,OH,OW,O] and w [KH,KW,C,O], or with `resample` of the fine convolution g. */
export function conv2dBackpropInput(backend: WebGPUBackendLike, dy: TensorInfo, w: TensorInfo, g: ConvGeometry, resample?: Resample): TensorInfo {
  const { inH: H, inW: W, inC: C, outH: OH, outW: OW, outC: O, kH: KH, kW: KW, sH, sW } = g;
  if (resample && (sH !== 1 || sW !== 1)) throw new Error('conv2dBackpropInput: resampling needs stride 1');
  const up = resample?.coarse === 'output';
  const down = resample?.coarse === 'input';
  // dy's rows and columns as stored (coarse: read at (oy / 2, ox / 2)).
  const [DH, DW] = up ? [OH / 2, OW / 2] : [OH, OW];
  const QH = Math.ceil(H / sH);
  const QW = Math.ceil(W / sW);
  const jMax = (k: number, s: number): number => Math.ceil(k / s);
  // Per phase z = py * sW + px: first tap r = (p + pad) mod s, tap count ceil((K - r) / s), and the
  // dy offset d0 = (p + pad - r) / s, so that oy = qy + d0 - j for iy = p + s*qy and ky = r + s*j.
  // The tap count in x is a compile-time constant when the kernel width is a multiple of the stride
  // (every model case): k's index arithmetic then divides by constants.
  const jx = KW % sW === 0 ? `${KW / sW}` : 'p.jx';
  const code = /* wgsl */ `
struct Phase { py: i32, px: i32, ry: i32, rx: i32, jx: i32, k: i32, dy0: i32, dx0: i32 };
fn phase(z: i32) -> Phase {
  let py = z / ${sW}; let px = z % ${sW};
  let ry = (py + ${g.padTop}) % ${sH}; let rx = (px + ${g.padLeft}) % ${sW};
  let jy = (${KH} - ry + ${sH - 1}) / ${sH}; let jx = (${KW} - rx + ${sW - 1}) / ${sW};
  return Phase(py, px, ry, rx, jx, jy * jx * ${O}, (py + ${g.padTop} - ry) / ${sH}, (px + ${g.padLeft} - rx) / ${sW});
}
fn kRange(z: i32) -> vec2<i32> { return vec2<i32>(0, phase(z).k); }
// k = (jy, jx, o): dy's row offset and column offset from the phase's (qy, qx), and o.
fn aK(k: i32, z: i32) -> vec4<i32> {
  let p = phase(z);
  let u = k / ${O};
  return vec4<i32>(p.dy0 - u / ${jx}, p.dx0 - u % ${jx}, k % ${O}, 0);
}
${down ? quadRowsWgsl(H, W) : ''}
fn aRow(m: i32, z: i32) -> vec4<i32> {
  let f = ${down ? 'fineRow(m)' : 'm'};
  let qx = f % ${QW}; let t = f / ${QW};
  return vec4<i32>(t % ${QH}, qx, t / ${QH} * ${DH}, 0);
}
fn loadA(q: vec4<i32>, r: vec4<i32>) -> f32 {
  let oy = r.x + q.x; let ox = r.y + q.y;
  let inside = oy >= 0 && oy < ${OH} && ox >= 0 && ox < ${OW};
  return ${scaledWgsl(`select(0.0, dy[select(0, ((r.z + ${up ? 'oy / 2' : 'oy'}) * ${DW} + ${up ? 'ox / 2' : 'ox'}) * ${O} + q.z, inside)], inside)`, up ? resample.scale : 1)};
}
// B[k, c] = w[ky, kx, c, o] with ky = ry + s*jy, kx = rx + s*jx.
fn bK(k: i32, z: i32) -> vec4<i32> {
  let p = phase(z);
  let u = k / ${O};
  return vec4<i32>(((p.ry + ${sH} * (u / ${jx})) * ${KW} + p.rx + ${sW} * (u % ${jx})) * ${C * O} + k % ${O}, 0, 0, 0);
}
fn bCol(n: i32, z: i32) -> vec4<i32> { return vec4<i32>(n * ${O}, 0, 0, 0); }
fn loadB(q: vec4<i32>, c: vec4<i32>) -> f32 { return w[q.x + c.x]; }
${down ? averagedStoreWgsl(C, resample.scale) : `fn store(m: i32, n: i32, z: i32, hi: f32, lo: f32) {
  let p = phase(z);
  let qx = m % ${QW}; let t = m / ${QW}; let qy = t % ${QH}; let b = t / ${QH};
  let iy = p.py + ${sH} * qy; let ix = p.px + ${sW} * qx;
  if (iy < ${H} && ix < ${W}) { result[((b * ${H} + iy) * ${W} + ix) * ${C} + n] = hi + lo; }
}`}`;
  return runGemm(backend, {
    name: resample ? 'AlaeConv2DBackpropInputResample' : 'AlaeConv2DBackpropInput',
    key: `${geometryKey(g)}${resample ? `_${resample.coarse}${resample.scale}` : ''}`,
    M: g.batch * QH * QW, N: C, kMax: jMax(KH, sH) * jMax(KW, sW) * O, Z: sH * sW, exact: false,
    inputs: ['dy', 'w'],
    code, bAlongK: true, rowQuads: down,
  }, [dy, w], down ? [g.batch, H / 2, W / 2, C] : [g.batch, H, W, C]);
}
