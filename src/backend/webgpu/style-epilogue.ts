/**
 * The generator's layer epilogue on webgpu (nn/style-epilogue.ts): noise,
 * bias, leaky ReLU, instance norm and style modulation in one dispatch
 * forward, two backward, in place of ~12 and ~25 tfjs programs. One
 * workgroup per (sample, channel) walks the H*W pixels; its sums run in the
 * order of tfjs-webgpu's Mean (wgsl.ts), so the forward has the op chain's
 * bits on the same device.
 *
 * The forward keeps the activation after the leaky ReLU and per pair the
 * mean, r = sqrt(var + eps) and s1 / r (s1 = style scale + 1): the gradient
 * recomputes the normalised value from them with the forward's roundings,
 * and the kink's side from the activation's sign (leaky ReLU keeps the sign;
 * 0 stays 0). Five inputs and three outputs forward, four and four backward:
 * WebGPU's default limit is 8 storage buffers per shader.
 * Backward (first order; the generator is never differentiated twice), per
 * pair:
 *   dstyle = (sum dy * normed, sum dy)
 *   da = s1 / r * (dy - mean(dy) - normed * mean(dy * normed))
 *   dpre = da where the pre-activation > 0, else 0.2 da
 *   dx = dpre; dbias = sum dpre; dnoiseWeight = sum dpre * noise
 * (the last two summed over pixels per pair, then over the batch in order):
 * one dispatch, a workgroup per channel walking the samples.
 *
 * The _BLUR kernels (DecodeBlock's blur after conv_1) take x before the blur
 * and read blur(x) on the fly (wgsl.ts blurAt, the blur op's bits); their
 * gradient writes blur(dpre), the blur being its own adjoint.
 */
import { STYLE_EPILOGUE, STYLE_EPILOGUE_BLUR, STYLE_EPILOGUE_BLUR_GRAD, STYLE_EPILOGUE_GRAD } from '../../nn/style-epilogue.js';
import type { KernelFn, TensorInfo } from '../kernel-adapter.js';
import { type Uniforms, type WgslProgram, bindings, dispatch, outputs, run, webgpuBackend } from './runner.js';
import { KEPT, PAIR_INDEX, PAIR_PARAMS, PAIR_PROLOGUE, blurAt, chainReduceSize, pairWorkgroups, treeSum } from './wgsl.js';

const size = (t: TensorInfo): number => t.shape.reduce((a, b) => a * b, 1);

/** N, H*W, C and the noise batch of x [N,H,W,C] and noise [1 or N,H,W,1], checked. */
function dims(kernel: string, x: TensorInfo | undefined, noise: TensorInfo | undefined): { n: number; h: number; w: number; c: number; nb: number } {
  if (!x || !noise || x.shape.length !== 4 || noise.shape.length !== 4) throw new Error(`${kernel}: expected NHWC x and noise`);
  const [n, h, w, c] = x.shape;
  const [nb, nh, nw, nc] = noise.shape;
  if (nh !== h || nw !== w || nc !== 1 || (nb !== 1 && nb !== n)) {
    throw new Error(`${kernel}: x [${x.shape}] and noise [${noise.shape}] do not match (noise is [1 or N, H, W, 1])`);
  }
  return { n, h, w, c, nb };
}

const FIELDS = 'pairs: u32, m: u32, c: u32, noiseBatch: u32, eps: f32, twice: u32, one: f32, height: u32, width: u32';

const forward = (wg: number, blurred: boolean): WgslProgram => ({
  name: blurred ? STYLE_EPILOGUE_BLUR : STYLE_EPILOGUE,
  key: `${wg}`,
  code: () => `
${bindings(['x', 'noise', 'nw', 'bias', 'style'], ['out', 'act', 'stats'], FIELDS)}
${treeSum(wg)}
${KEPT}
${blurred ? blurAt('blurX', '', 'x[i]') : ''}

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
    let a = leaky((${blurred ? 'blurX(base, p)' : 'x[i]'} + kept(w * noise[zbase + p])) + b);
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
  let s = 2u * n * u.c + c;
  let scale = style[s] + 1.0;
  if (t == 0u) {
    stats[3u * pair] = mean;
    stats[3u * pair + 1u] = r;
    stats[3u * pair + 2u] = scale / r;
  }
  let shift = style[s + u.c];
  for (var p = t; p < u.m; p += ${wg}u) {
    let i = base + p * u.c;
    out[i] = kept(((act[i] - mean) / r) * scale) + shift;
  }
}`,
});

const backward = (wg: number, blurred: boolean): WgslProgram => ({
  name: blurred ? STYLE_EPILOGUE_BLUR_GRAD : STYLE_EPILOGUE_GRAD,
  key: `${wg}`,
  code: () => `
${bindings(['dy', 'noise', 'act', 'stats'], ['dx', 'dstyle', 'dnw', 'db'], FIELDS)}
${treeSum(wg)}

// The gradient of the pre-activation at element i.
fn dpreAt(i: u32, mean: f32, r: f32, k1: f32, k2: f32, k3: f32) -> f32 {
  let da = k1 * ((dy[i] - k2) - ((act[i] - mean) / r) * k3);
  return select(0.2 * da, da, act[i] > 0.0);
}
${blurred ? blurAt('blurDpre', 'mean: f32, r: f32, k1: f32, k2: f32, k3: f32', 'dpreAt(i, mean, r, k1, k2, k3)') : ''}

@compute @workgroup_size(${wg})
fn main(${PAIR_PARAMS}) {
  let c = ${PAIR_INDEX};
  if (c >= u.c) { return; }
  var batch = vec2<f32>(0.0);
  for (var n = 0u; n < u.pairs / u.c; n++) {
    let pair = n * u.c + c;
    let base = n * u.m * u.c + c;
    let zbase = select(n * u.m, 0u, u.noiseBatch == 1u);
    let mean = stats[3u * pair];
    let r = stats[3u * pair + 1u];
    var acc = vec2<f32>(0.0);
    for (var p = t; p < u.m; p += ${wg}u) {
      let i = base + p * u.c;
      let g = dy[i];
      acc += vec2<f32>(g, g * ((act[i] - mean) / r));
    }
    let sums = treeVec2(t, acc, u.m);
    let k1 = stats[3u * pair + 2u];
    let k2 = sums.x / f32(u.m);
    let k3 = sums.y / f32(u.m);
    acc = vec2<f32>(0.0);
    for (var p = t; p < u.m; p += ${wg}u) {
      let i = base + p * u.c;
      let dpre = dpreAt(i, mean, r, k1, k2, k3);
      dx[i] = ${blurred ? 'blurDpre(base, p, mean, r, k1, k2, k3)' : 'dpre'};
      acc += vec2<f32>(dpre, dpre * noise[zbase + p]);
    }
    let grads = treeVec2(t, acc, u.m);
    if (t == 0u) {
      let s = 2u * n * u.c + c;
      dstyle[s] = sums.y;
      dstyle[s + u.c] = sums.x;
    }
    batch += grads;
  }
  if (t == 0u) {
    db[c] = batch.x;
    dnw[c] = batch.y;
  }
}`,
});

const uniforms = (n: number, h: number, w: number, c: number, nb: number, eps = 0, twice = false): Uniforms =>
  [['u32', n * c], ['u32', h * w], ['u32', c], ['u32', nb], ['f32', eps], ['u32', twice ? 1 : 0], ['f32', 1], ['u32', h], ['u32', w]];

const epilogueForward = (blurred: boolean): KernelFn => ({ inputs, backend, attrs }) => {
  const b = webgpuBackend(backend);
  const name = blurred ? STYLE_EPILOGUE_BLUR : STYLE_EPILOGUE;
  const { x, noise, noiseWeight, bias, style } = inputs;
  const { n, h, w, c, nb } = dims(name, x, noise);
  if (size(noiseWeight!) !== c || size(bias!) !== c || style!.shape.join() !== `${n},${2 * c}`) {
    throw new Error(`${name}: noise weight [${noiseWeight!.shape}], bias [${bias!.shape}] or style [${style!.shape}] do not fit x [${x!.shape}]`);
  }
  return run(b, forward(chainReduceSize(b, h * w), blurred), [x!, noise!, noiseWeight!, bias!, style!], [{ shape: x!.shape }, { shape: x!.shape }, { shape: [n, 3 * c] }],
    uniforms(n, h, w, c, nb, Number(attrs?.eps), !!attrs?.twice), pairWorkgroups(b, n * c));
};

const epilogueGrad = (blurred: boolean): KernelFn => ({ inputs, backend }) => {
  const b = webgpuBackend(backend);
  const name = blurred ? STYLE_EPILOGUE_BLUR_GRAD : STYLE_EPILOGUE_GRAD;
  const { dy, noise, saved0: act, saved1: stats } = inputs;
  const { n, h, w, c, nb } = dims(name, dy, noise);
  if (act?.shape.join() !== dy!.shape.join() || stats?.shape.join() !== `${n},${3 * c}`) {
    throw new Error(`${name}: saved state [${act?.shape ?? ''}] or [${stats?.shape ?? ''}] does not fit dy [${dy!.shape}]`);
  }
  const [dx, dstyle, dnw, db] = outputs(b, [{ shape: dy!.shape }, { shape: [n, 2 * c] }, { shape: [c] }, { shape: [c] }]);
  if (n * h * w * c === 0) return [dx, dnw, db, dstyle];
  dispatch(b, backward(chainReduceSize(b, h * w), blurred), [
    ...[dy!, noise!, act, stats].map((tensor) => ({ tensor })),
    ...[dx, dstyle, dnw, db].map((tensor) => ({ tensor, write: true })),
  ], uniforms(n, h, w, c, nb), pairWorkgroups(b, c));
  return [dx, dnw, db, dstyle];
};

export const webgpuStyleEpilogue = epilogueForward(false);
export const webgpuStyleEpilogueGrad = epilogueGrad(false);
export const webgpuStyleEpilogueBlur = epilogueForward(true);
export const webgpuStyleEpilogueBlurGrad = epilogueGrad(true);
