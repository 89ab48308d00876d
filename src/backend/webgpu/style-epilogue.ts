/**
 * The generator's layer epilogue on webgpu (nn/style-epilogue.ts): noise,
 * bias, leaky ReLU, instance norm and style modulation in one dispatch
 * forward, two backward, in place of ~12 and ~25 tfjs programs. One
 * workgroup per (sample, channel) walks the H*W pixels; its sums run in the
 * order of tfjs-webgpu's Mean (wgsl.ts), so the forward has the op chain's
 * bits on the same device.
 *
 * The forward keeps the activation after the leaky ReLU and the statistics
 * (mean, sqrt(var + eps)) per pair: the gradient recomputes the normalised
 * value from them with the forward's roundings, and the kink's side from the
 * activation's sign (leaky ReLU keeps the sign; 0 stays 0). Five inputs and
 * three outputs: WebGPU's default limit is 8 storage buffers per shader.
 * Backward (first order; the generator is never differentiated twice), per
 * pair with s1 = style scale + 1, r = sqrt(var + eps):
 *   dstyle = (sum dy * normed, sum dy)
 *   da = s1 / r * (dy - mean(dy) - normed * mean(dy * normed))
 *   dpre = da where the pre-activation > 0, else 0.2 da
 *   dx = dpre; dbias = sum dpre; dnoiseWeight = sum dpre * noise
 * (the last two summed over pixels per pair, then over the batch by a
 * second dispatch).
 */
import { STYLE_EPILOGUE, STYLE_EPILOGUE_GRAD } from '../../nn/style-epilogue.js';
import type { KernelFn, TensorInfo } from '../kernel-adapter.js';
import { type Uniforms, type WgslProgram, bindings, dispatch, outputs, run, scratch, webgpuBackend } from './runner.js';
import { KEPT, PAIR_PARAMS, PAIR_PROLOGUE, chainReduceSize, pairWorkgroups, treeSum } from './wgsl.js';

const size = (t: TensorInfo): number => t.shape.reduce((a, b) => a * b, 1);

/** N, H*W, C and the noise batch of x [N,H,W,C] and noise [1 or N,H,W,1], checked. */
function dims(kernel: string, x: TensorInfo | undefined, noise: TensorInfo | undefined): { n: number; m: number; c: number; nb: number } {
  if (!x || !noise || x.shape.length !== 4 || noise.shape.length !== 4) throw new Error(`${kernel}: expected NHWC x and noise`);
  const [n, h, w, c] = x.shape;
  const [nb, nh, nw, nc] = noise.shape;
  if (nh !== h || nw !== w || nc !== 1 || (nb !== 1 && nb !== n)) {
    throw new Error(`${kernel}: x [${x.shape}] and noise [${noise.shape}] do not match (noise is [1 or N, H, W, 1])`);
  }
  return { n, m: h * w, c, nb };
}

const FIELDS = 'pairs: u32, m: u32, c: u32, noiseBatch: u32, eps: f32, twice: u32, one: f32';

const forward = (wg: number): WgslProgram => ({
  name: STYLE_EPILOGUE,
  key: `${wg}`,
  code: () => `
${bindings(['x', 'noise', 'nw', 'bias', 'style'], ['out', 'act', 'stats'], FIELDS)}
${treeSum(wg)}
${KEPT}

// leaky_relu(v, 0.2) with the rounding of the op chain the caller picked: tf.leakyRelu's 0.2 v
// for v < 0, or the twice-differentiable form's 0.2 v + 0.8 relu(v) (nn/ops.ts).
fn leaky(v: f32) -> f32 {
  if (u.twice != 0u) { return kept(v * 0.2) + kept(select(v, 0.0, v < 0.0) * 0.8); }
  return select(v, 0.2 * v, v < 0.0);
}

@compute @workgroup_size(${wg})
fn main(${PAIR_PARAMS}) {
  ${PAIR_PROLOGUE}
  let zbase = select(n * u.m, 0u, u.noiseBatch == 1u);
  let w = nw[c];
  let b = bias[c];
  var acc = 0.0;
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    let a = leaky((x[i] + kept(w * noise[zbase + p])) + b);
    act[i] = a;
    acc += a;
  }
  let mean = tree(t, acc, u.m) / f32(u.m);
  acc = 0.0;
  for (var p = t; p < u.m; p += ${wg}u) {
    let d = act[base + p * u.c] - mean;
    acc += kept(d * d);
  }
  let r = sqrt(tree(t, acc, u.m) / f32(u.m) + u.eps);
  if (t == 0u) {
    stats[2u * pair] = mean;
    stats[2u * pair + 1u] = r;
  }
  let s = 2u * n * u.c + c;
  let scale = style[s] + 1.0;
  let shift = style[s + u.c];
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    out[i] = kept(((act[i] - mean) / r) * scale) + shift;
  }
}`,
});

const backward = (wg: number): WgslProgram => ({
  name: STYLE_EPILOGUE_GRAD,
  key: `${wg}`,
  code: () => `
${bindings(['dy', 'style', 'noise', 'act', 'stats'], ['dx', 'dstyle', 'partial'], FIELDS)}
${treeSum(wg)}

@compute @workgroup_size(${wg})
fn main(${PAIR_PARAMS}) {
  ${PAIR_PROLOGUE}
  let zbase = select(n * u.m, 0u, u.noiseBatch == 1u);
  let mean = stats[2u * pair];
  let r = stats[2u * pair + 1u];
  var acc = vec2<f32>(0.0);
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    let g = dy[i];
    acc += vec2<f32>(g, g * ((act[i] - mean) / r));
  }
  let sums = treeVec2(t, acc, u.m);
  let s = 2u * n * u.c + c;
  let k1 = (style[s] + 1.0) / r;
  let k2 = sums.x / f32(u.m);
  let k3 = sums.y / f32(u.m);
  acc = vec2<f32>(0.0);
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    let da = k1 * ((dy[i] - k2) - ((act[i] - mean) / r) * k3);
    let dpre = select(0.2 * da, da, act[i] > 0.0);
    dx[i] = dpre;
    acc += vec2<f32>(dpre, dpre * noise[zbase + p]);
  }
  let grads = treeVec2(t, acc, u.m);
  if (t == 0u) {
    dstyle[s] = sums.y;
    dstyle[s + u.c] = sums.x;
    partial[2u * pair] = grads.x;
    partial[2u * pair + 1u] = grads.y;
  }
}`,
});

/** dbias[c] and dnoiseWeight[c]: the per-pair partial sums added over the batch, in order. */
const batchSum: WgslProgram = {
  name: `${STYLE_EPILOGUE_GRAD}Batch`,
  key: '',
  code: () => `
${bindings(['partial'], ['dnw', 'db'], 'n: u32, c: u32')}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let c = id.x;
  if (c >= u.c) { return; }
  var sums = vec2<f32>(0.0);
  for (var n = 0u; n < u.n; n++) {
    let k = 2u * (n * u.c + c);
    sums += vec2<f32>(partial[k], partial[k + 1u]);
  }
  db[c] = sums.x;
  dnw[c] = sums.y;
}`,
};

const uniforms = (n: number, m: number, c: number, nb: number, eps = 0, twice = false): Uniforms =>
  [['u32', n * c], ['u32', m], ['u32', c], ['u32', nb], ['f32', eps], ['u32', twice ? 1 : 0], ['f32', 1]];

export const webgpuStyleEpilogue: KernelFn = ({ inputs, backend, attrs }) => {
  const b = webgpuBackend(backend);
  const { x, noise, noiseWeight, bias, style } = inputs;
  const { n, m, c, nb } = dims(STYLE_EPILOGUE, x, noise);
  if (size(noiseWeight!) !== c || size(bias!) !== c || style!.shape.join() !== `${n},${2 * c}`) {
    throw new Error(`${STYLE_EPILOGUE}: noise weight [${noiseWeight!.shape}], bias [${bias!.shape}] or style [${style!.shape}] do not fit x [${x!.shape}]`);
  }
  return run(b, forward(chainReduceSize(b, m)), [x!, noise!, noiseWeight!, bias!, style!], [{ shape: x!.shape }, { shape: x!.shape }, { shape: [n, 2 * c] }],
    uniforms(n, m, c, nb, Number(attrs?.eps), !!attrs?.twice), pairWorkgroups(b, n * c));
};

export const webgpuStyleEpilogueGrad: KernelFn = ({ inputs, backend }) => {
  const b = webgpuBackend(backend);
  const { dy, style, noise, saved0: act, saved1: stats } = inputs;
  const { n, m, c, nb } = dims(STYLE_EPILOGUE_GRAD, dy, noise);
  if (act?.shape.join() !== dy!.shape.join() || stats?.shape.join() !== `${n},${2 * c}` || style?.shape.join() !== `${n},${2 * c}`) {
    throw new Error(`${STYLE_EPILOGUE_GRAD}: saved state [${act?.shape ?? ''}], [${stats?.shape ?? ''}] or style [${style?.shape ?? ''}] do not fit dy [${dy!.shape}]`);
  }
  const [dx, dstyle, dnw, db] = outputs(b, [{ shape: dy!.shape }, { shape: [n, 2 * c] }, { shape: [c] }, { shape: [c] }]);
  if (n * m * c === 0) return [dx, dnw, db, dstyle];
  const partial = scratch(b, 8 * n * c);
  dispatch(b, backward(chainReduceSize(b, m)), [
    ...[dy!, style!, noise!, act, stats].map((tensor) => ({ tensor })),
    { tensor: dx, write: true }, { tensor: dstyle, write: true }, { buffer: partial, write: true },
  ], uniforms(n, m, c, nb), pairWorkgroups(b, n * c));
  dispatch(b, batchSum, [{ buffer: partial }, { tensor: dnw, write: true }, { tensor: db, write: true }], [['u32', n], ['u32', c]],
    [Math.ceil(c / 64), 1, 1]);
  return [dx, dnw, db, dstyle];
};
