/**
 * Conv2D and FusedConv2D on webgpu as one implicit GEMM each (conv-gemm.ts):
 * rows are output pixels (batch, y, x), columns output channels, k runs over
 * the filter's taps (ky, kx, input channel), gathered from the NHWC input
 * with zero padding (conv-geometry.ts).
 * FusedConv2D adds the bias and activation to the rounded sum, as native's
 * kernel does after its double accumulation.
 * With a Resample (conv-geometry.ts), the input is read up-sampled, or
 * each output is the average of four correctly rounded sums: rows then run
 * over the fine pixels a coarse one's four at a time (conv-gemm.ts's rowQuads).
 */
import type { TensorInfo } from '../kernel-adapter.js';
import { runGemm } from './conv-gemm.js';
import { type ConvGeometry, type Resample, averagedStoreWgsl, f32Literal, geometryKey, inputWindowWgsl, quadRowsWgsl } from './conv-geometry.js';
import type { WebGPUBackendLike } from './runner.js';
import { LEAKY_TWICE_ZERO } from './wgsl.js';

/** The activations FusedConv2D handles here (others fall back to tfjs's kernel). */
export type ConvActivation = 'linear' | 'relu' | 'leakyrelu';

/**
 * 'leakyTwice': nn/conv-leaky.ts's epilogue, the value of the twice-differentiable leaky ReLU
 * of the sum plus bias with the roundings of BIAS_LEAKY_TWICE (webgpu/leaky-twice.ts), so that
 * the fused kernel has the bits of the two kernels it replaces; with a resampled output, the
 * bias and the leaky ReLU follow the average.
 */
export type EpilogueActivation = ConvActivation | 'leakyTwice';

export interface ConvEpilogue {
  bias?: TensorInfo;
  activation: EpilogueActivation;
  leakyreluAlpha: number;
}

function activationCode(e: ConvEpilogue): string {
  switch (e.activation) {
    case 'leakyTwice': return 'v = leakyTwice(v);';
    case 'linear': return '';
    case 'relu': return 'v = max(v, 0.0);';
    // tfjs: x < 0 ? alpha * x : x
    case 'leakyrelu': return `if (v < 0.0) { v = v * ${f32Literal(e.leakyreluAlpha)}; }`;
  }
}

/** y = conv2d(x, w) (+ bias, activation), or with `resample` (+ bias, no activation but leakyTwice) of the fine convolution g; x [N,H,W,C], w [KH,KW,C,O]. */
export function conv2dForward(backend: WebGPUBackendLike, x: TensorInfo, w: TensorInfo, g: ConvGeometry, exact: boolean,
  epilogue: ConvEpilogue = { activation: 'linear', leakyreluAlpha: 0 }, resample?: Resample): TensorInfo {
  const { outH: OH, outW: OW, outC: O } = g;
  const K = g.kH * g.kW * g.inC;
  const hasBias = epilogue.bias !== undefined;
  const twice = epilogue.activation === 'leakyTwice';
  if (resample && epilogue.activation !== 'linear' && !(twice && resample.coarse === 'output')) {
    throw new Error('conv2dForward: a resampling convolution has no activation but leakyTwice after a 2x2 average');
  }
  if (twice && !hasBias) throw new Error('conv2dForward: leakyTwice needs the bias');
  const down = resample?.coarse === 'output';
  const code = /* wgsl */ `
fn kRange(z: i32) -> vec2<i32> { return vec2<i32>(0, ${K}); }
${inputWindowWgsl(g, resample?.coarse === 'input' ? resample.scale : undefined)}
${down ? quadRowsWgsl(OH, OW) : ''}
fn aK(k: i32, z: i32) -> vec4<i32> { return tapOf(k); }
fn aRow(m: i32, z: i32) -> vec4<i32> { return windowOf(${down ? 'fineRow(m)' : 'm'}); }
fn loadA(q: vec4<i32>, r: vec4<i32>) -> f32 { return inputAt(r, q); }
fn bK(k: i32, z: i32) -> vec4<i32> { return vec4<i32>(k * ${O}, 0, 0, 0); }
fn bCol(n: i32, z: i32) -> vec4<i32> { return vec4<i32>(n, 0, 0, 0); }
fn loadB(q: vec4<i32>, c: vec4<i32>) -> f32 { return w[q.x + c.x]; }
${twice ? LEAKY_TWICE_ZERO : ''}
${down ? averagedStoreWgsl(O, resample.scale, hasBias, twice) : `fn store(m: i32, n: i32, z: i32, hi: f32, lo: f32) {
  var v = hi + lo;
  ${hasBias ? 'v = v + bias[n];' : ''}
  ${activationCode(epilogue)}
  result[m * ${O} + n] = v;
}`}`;
  const act = epilogue.activation === 'leakyrelu' ? `leaky${f32Literal(epilogue.leakyreluAlpha)}` : epilogue.activation;
  return runGemm(backend, {
    name: twice ? (resample ? 'AlaeConv2DResampleBiasLeaky' : 'AlaeConv2DBiasLeaky') : resample ? 'AlaeConv2DResample' : hasBias || act !== 'linear' ? 'AlaeFusedConv2D' : 'AlaeConv2D',
    key: `${geometryKey(g)}_${hasBias ? 'b' : ''}${act}${resample ? `_${resample.coarse}${resample.scale}` : ''}`,
    M: g.batch * OH * OW, N: O, kMax: K, Z: 1, exact,
    inputs: hasBias ? ['x', 'w', 'bias'] : ['x', 'w'],
    code, bAlongK: false, rowQuads: down,
  }, hasBias ? [x, w, epilogue.bias!] : [x, w], down ? [g.batch, OH / 2, OW / 2, O] : [g.batch, OH, OW, O]);
}
