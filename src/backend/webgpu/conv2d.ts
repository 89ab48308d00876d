/**
 * Conv2D and FusedConv2D on webgpu as one implicit GEMM each (conv-gemm.ts):
 * rows are output pixels (batch, y, x), columns output channels, k runs over
 * the filter's taps (ky, kx, input channel), gathered from the NHWC input
 * with zero padding (conv-geometry.ts).
 * FusedConv2D adds the bias and activation to the rounded sum, as native's
 * kernel does after its double accumulation.
 */
import type { TensorInfo } from '../kernel-adapter.js';
import { runGemm } from './conv-gemm.js';
import { geometryKey, inputWindowWgsl, type ConvGeometry } from './conv-geometry.js';
import type { WebGPUBackendLike } from './runner.js';

/** The activations FusedConv2D handles here (others fall back to tfjs's kernel). */
export type ConvActivation = 'linear' | 'relu' | 'leakyrelu';

export interface ConvEpilogue {
  bias?: TensorInfo;
  activation: ConvActivation;
  leakyreluAlpha: number;
}

function activationCode(e: ConvEpilogue): string {
  switch (e.activation) {
    case 'linear': return '';
    case 'relu': return 'v = max(v, 0.0);';
    // tfjs: x < 0 ? alpha * x : x
    case 'leakyrelu': return `if (v < 0.0) { v = v * ${f32Literal(e.leakyreluAlpha)}; }`;
  }
}

/** A float as a WGSL literal that round-trips exactly through float32. */
function f32Literal(v: number): string {
  const f = Math.fround(v);
  if (!Number.isFinite(f)) throw new Error(`not a finite float32: ${v}`);
  return `${f.toPrecision(9)}f`;
}

/** y = conv2d(x, w) (+ bias, activation); x [N,H,W,C], w [KH,KW,C,O]. */
export function conv2dForward(backend: WebGPUBackendLike, x: TensorInfo, w: TensorInfo, g: ConvGeometry, exact: boolean,
  epilogue: ConvEpilogue = { activation: 'linear', leakyreluAlpha: 0 }): TensorInfo {
  const { outH: OH, outW: OW, outC: O } = g;
  const K = g.kH * g.kW * g.inC;
  const hasBias = epilogue.bias !== undefined;
  const code = /* wgsl */ `
fn kRange(z: i32) -> vec2<i32> { return vec2<i32>(0, ${K}); }
${inputWindowWgsl(g)}
fn aK(k: i32, z: i32) -> vec4<i32> { return tapOf(k); }
fn aRow(m: i32, z: i32) -> vec4<i32> { return windowOf(m); }
fn loadA(q: vec4<i32>, r: vec4<i32>) -> f32 { return inputAt(r, q); }
fn bK(k: i32, z: i32) -> vec4<i32> { return vec4<i32>(k * ${O}, 0, 0, 0); }
fn bCol(n: i32, z: i32) -> vec4<i32> { return vec4<i32>(n, 0, 0, 0); }
fn loadB(q: vec4<i32>, c: vec4<i32>) -> f32 { return w[q.x + c.x]; }
fn store(m: i32, n: i32, z: i32, hi: f32, lo: f32) {
  var v = hi + lo;
  ${hasBias ? 'v = v + bias[n];' : ''}
  ${activationCode(epilogue)}
  result[m * ${O} + n] = v;
}`;
  const act = epilogue.activation === 'leakyrelu' ? `leaky${f32Literal(epilogue.leakyreluAlpha)}` : epilogue.activation;
  return runGemm(backend, {
    name: hasBias || act !== 'linear' ? 'AlaeFusedConv2D' : 'AlaeConv2D',
    key: `${geometryKey(g)}_${hasBias ? 'b' : ''}${act}`,
    M: g.batch * OH * OW, N: O, kMax: K, Z: 1, exact,
    inputs: hasBias ? ['x', 'w', 'bias'] : ['x', 'w'],
    code, bAlongK: false,
  }, hasBias ? [x, w, epilogue.bias!] : [x, w], [g.batch, OH, OW, O]);
}
