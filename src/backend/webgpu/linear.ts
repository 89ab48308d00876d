/**
 * The linear layers' kernels on webgpu (nn/linear.ts), each one GEMM
 * dispatch of conv-gemm.ts:
 * - LINEAR: y = x @ W (+ bias) (leaky: the twice-differentiable leaky ReLU's
 *   value, wgsl.ts's leakyTwice), summed (almost) exactly as the forward
 *   convolutions are (conv-kernels.ts says why: pre-activations beside a
 *   leaky-ReLU kink);
 * - LINEAR_GRAD: the gradients asked for, one z of the dispatch each, with
 *   dh = dy * step(y, 0.2) read on the fly (the multiply of
 *   BIAS_LEAKY_GRAD, its rounding): dx = dh W^T (k over the outputs),
 *   dW = x^T dh and db = 1^T dh (k over the batch), in float32 as the
 *   convolutions' gradients. The tile grid covers the largest of them; each
 *   z stores its own rows and columns, and its workgroups past them return
 *   at once (dx of the encoder's styles is [batch, thousands], dW
 *   [thousands, latent]).
 */
import { LINEAR, LINEAR_GRAD, type LinearGradAttrs } from '../../nn/linear.js';
import type { KernelFn, TensorInfo } from '../kernel-adapter.js';
import { runGemmInto } from './conv-gemm.js';
import { exactForward } from './conv-kernels.js';
import { webgpuBackend } from './runner.js';
import { LEAKY_MASK, LEAKY_TWICE_ZERO } from './wgsl.js';


const matrix = (name: string, what: string, t: TensorInfo | undefined): [number, number] => {
  if (!t || t.dtype !== 'float32' || t.shape.length !== 2) throw new Error(`${name}: ${what} must be a float32 matrix, got ${t ? `${t.dtype} [${t.shape}]` : 'none'}`);
  return [t.shape[0], t.shape[1]];
};

export const webgpuLinear: KernelFn = ({ inputs: { x, w, bias }, backend, attrs }) => {
  const [M, K] = matrix(LINEAR, 'x', x);
  const [K2, N] = matrix(LINEAR, 'w', w);
  if (K2 !== K) throw new Error(`${LINEAR}: x [${M},${K}] and w [${K2},${N}] do not multiply`);
  if (bias && (bias.dtype !== 'float32' || bias.shape.reduce((a, c) => a * c, 1) !== N)) throw new Error(`${LINEAR}: bias [${bias.shape}] does not fit ${N} outputs`);
  const leaky = (attrs as { leaky?: boolean } | undefined)?.leaky === true;
  const code = /* wgsl */ `
${leaky ? LEAKY_TWICE_ZERO : ''}
fn kRange(z: i32) -> vec2<i32> { return vec2<i32>(0, ${K}); }
fn aK(k: i32, z: i32) -> vec4<i32> { return vec4<i32>(k, 0, 0, 0); }
fn aRow(m: i32, z: i32) -> vec4<i32> { return vec4<i32>(m * ${K}, 0, 0, 0); }
fn loadA(q: vec4<i32>, r: vec4<i32>) -> f32 { return x[r.x + q.x]; }
fn bK(k: i32, z: i32) -> vec4<i32> { return vec4<i32>(k * ${N}, 0, 0, 0); }
fn bCol(n: i32, z: i32) -> vec4<i32> { return vec4<i32>(n, 0, 0, 0); }
fn loadB(q: vec4<i32>, c: vec4<i32>) -> f32 { return w[q.x + c.x]; }
fn store(m: i32, n: i32, z: i32, hi: f32, lo: f32) {
  var v = hi + lo;
  ${bias ? 'v = v + bias[n];' : ''}
  ${leaky ? 'v = leakyTwice(v);' : ''}
  result[m * ${N} + n] = v;
}`;
  return runGemmInto(webgpuBackend(backend), {
    name: LINEAR, key: `${K}_${bias ? 'b' : ''}${leaky ? 'l' : ''}`,
    M, N, kMax: K, Z: 1, exact: exactForward(),
    inputs: bias ? ['x', 'w', 'bias'] : ['x', 'w'], code, bAlongK: false,
  }, bias ? [x!, w!, bias] : [x!, w!], [[M, N]])[0];
};

export const webgpuLinearGrad: KernelFn = ({ inputs, backend, attrs }) => {
  const a = (attrs ?? {}) as unknown as LinearGradAttrs;
  const list = Object.values(inputs);
  let j = 0;
  const dy = list[j++], w = a.dx ? list[j++] : undefined, x = a.dw ? list[j++] : undefined, y = a.leaky ? list[j++] : undefined;
  const [M, N] = matrix(LINEAR_GRAD, 'dy', dy);
  const K = a.dx ? matrix(LINEAR_GRAD, 'w', w)[0] : a.dw ? matrix(LINEAR_GRAD, 'x', x)[1] : 0;
  if (w && (w.shape[0] !== K || w.shape[1] !== N)) throw new Error(`${LINEAR_GRAD}: w [${w.shape}] does not fit dy [${M},${N}]`);
  if (x && (x.shape[0] !== M || x.shape[1] !== K)) throw new Error(`${LINEAR_GRAD}: x [${x.shape}] does not fit dy [${M},${N}] and w`);
  if (a.leaky && (!y || y.dtype !== 'float32' || y.shape[0] !== M || y.shape[1] !== N)) throw new Error(`${LINEAR_GRAD}: y must be a float32 [${M},${N}]`);
  // The z of each output, in output order; rows, columns and k of each.
  const kinds = (['dx', 'dw', 'db'] as const).filter((k) => a[k]);
  if (kinds.length === 0) throw new Error(`${LINEAR_GRAD}: no gradient asked for`);
  const shape = { dx: [M, K], dw: [K, N], db: [1, N] } as const;
  const kOf = { dx: N, dw: M, db: M } as const;
  const z = (k: 'dx' | 'dw' | 'db'): number => kinds.indexOf(k);
  const rows = Math.max(...kinds.map((k) => shape[k][0])), cols = Math.max(...kinds.map((k) => shape[k][1]));
  const names = ['dy', ...(w ? ['w'] : []), ...(x ? ['x'] : []), ...(y ? ['y'] : [])];
  // Rows and columns past a z's own are read clamped (in bounds) and never stored.
  const code = /* wgsl */ `
${a.leaky ? `${LEAKY_TWICE_ZERO}\n${LEAKY_MASK}` : ''}
fn dh(i: i32) -> f32 { return ${a.leaky ? 'keptZ(dy[i] * leakyMask(y[i]))' : 'dy[i]'}; }
fn kRange(z: i32) -> vec2<i32> { return vec2<i32>(0, select(${M}, ${N}, z == ${z('dx')})); }
fn skipTile(m0: i32, n0: i32, z: i32) -> bool {
  if (z == ${z('dx')}) { return m0 >= ${M} || n0 >= ${K}; }
  if (z == ${z('dw')}) { return m0 >= ${K} || n0 >= ${N}; }
  return m0 >= 1 || n0 >= ${N};
}
fn aK(k: i32, z: i32) -> vec4<i32> { return vec4<i32>(k, z, 0, 0); }
fn aRow(m: i32, z: i32) -> vec4<i32> { return vec4<i32>(min(m, select(${K - 1}, ${M - 1}, z == ${z('dx')})), 0, 0, 0); }
fn loadA(q: vec4<i32>, r: vec4<i32>) -> f32 {
  ${a.dx ? `if (q.y == ${z('dx')}) { return dh(r.x * ${N} + q.x); }` : ''}
  ${a.dw ? `if (q.y == ${z('dw')}) { return x[q.x * ${K} + r.x]; }` : ''}
  return 1.0;
}
fn bK(k: i32, z: i32) -> vec4<i32> { return vec4<i32>(k, z, 0, 0); }
fn bCol(n: i32, z: i32) -> vec4<i32> { return vec4<i32>(min(n, select(${N - 1}, ${K - 1}, z == ${z('dx')})), 0, 0, 0); }
fn loadB(q: vec4<i32>, c: vec4<i32>) -> f32 {
  ${a.dx ? `if (q.y == ${z('dx')}) { return w[c.x * ${N} + q.x]; }` : ''}
  return dh(q.x * ${N} + c.x);
}
fn store(m: i32, n: i32, z: i32, hi: f32, lo: f32) {
  let v = hi + lo;
  ${a.dx ? `if (z == ${z('dx')} && m < ${M} && n < ${K}) { dxOut[m * ${K} + n] = v; }` : ''}
  ${a.dw ? `if (z == ${z('dw')} && m < ${K} && n < ${N}) { dwOut[m * ${N} + n] = v; }` : ''}
  ${a.db ? `if (z == ${z('db')} && m == 0 && n < ${N}) { dbOut[n] = v; }` : ''}
}`;
  const outs = runGemmInto(webgpuBackend(backend), {
    name: LINEAR_GRAD, key: `${M}_${N}_${K}_${kinds.join('')}${a.leaky ? 'l' : ''}`,
    M: rows, N: cols, kMax: Math.max(...kinds.map((k) => kOf[k])), Z: kinds.length, exact: false,
    inputs: names, outputs: kinds.map((k) => `${k}Out`), code, bAlongK: false, skipTiles: true,
  }, [dy!, ...(w ? [w] : []), ...(x ? [x] : []), ...(y ? [y] : [])], kinds.map((k) => (k === 'db' ? [N] : [...shape[k]])));
  return outs;
};
