/**
 * The encoder's block statistics (EncodeBlock of net.py): per sample and
 * channel over H, W, the mean and std (no epsilon) that feed the style
 * linears, and the instance-normalised activations (eps inside the sqrt).
 * As tfjs ops (statsAndNorm in ops.ts) this is 8 kernels forward and ~15
 * backward, most of them full passes over the activations; a backend that
 * registers INSTANCE_STATS and its gradient (backend/kernel-adapter.ts) runs
 * it as one forward and one backward kernel with the chain's float32
 * roundings.
 *
 * R1 differentiates the gradient again (Differentiation 'twice'). There the
 * fused path needs a gradient kernel with a gradient of its own,
 * INSTANCE_STATS_TWICE_GRAD and INSTANCE_STATS_GRAD_GRAD (webgpu has them):
 * without them, tfjs could not differentiate the gradient kernel again (with
 * no other path it throws, beside another path it would drop this one
 * silently), so the chain runs, whose every op tfjs differentiates twice.
 *
 * EncodeBlock blurs the normed activations before conv_2 and uses them for
 * nothing else: instanceStatsBlurred gives blur(normed) and the statistics,
 * as one kernel where the backend registers the _BLUR kernels (the blur read
 * on the fly, forward and backward), saving the blur's dispatches.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { type Differentiation, blur, statsAndNorm } from './ops.js';

/**
 * Kernel names a backend may register. INSTANCE_STATS: x -> normed [N,H,W,C]
 * and stats [N, 2C] (each sample's means, then its stds; attr eps).
 * INSTANCE_STATS_GRAD: dnormed, dstats, normed, stats -> dx.
 * INSTANCE_STATS_TWICE_GRAD: dnormed, dstats, x -> the same dx, normed and
 * stats recomputed from x (where the gradient is differentiated again: a
 * gradient through the forward's saved outputs would be lost, since tfjs
 * records the copies it saves of a kernel's outputs before the kernel
 * itself, why tfjs's own exp and sigmoid have wrong second derivatives).
 * INSTANCE_STATS_GRAD_GRAD, the gradient of the latter: dx's gradient `ddx`
 * and dnormed, dstats, x -> the gradients of dnormed, dstats and x.
 * The _BLUR kernels are the same with blur(normed) (ops.ts's blur) in place
 * of normed as the first output: INSTANCE_STATS_BLUR x -> blur(normed),
 * stats and, with attr keep, normed (what the gradient reads);
 * INSTANCE_STATS_BLUR_GRAD's dnormed is the gradient of blur(normed).
 */
export const INSTANCE_STATS = 'AlaeInstanceStats';
export const INSTANCE_STATS_GRAD = 'AlaeInstanceStatsGrad';
export const INSTANCE_STATS_TWICE_GRAD = 'AlaeInstanceStatsTwiceGrad';
export const INSTANCE_STATS_GRAD_GRAD = 'AlaeInstanceStatsGradGrad';
export const INSTANCE_STATS_BLUR = 'AlaeInstanceStatsBlur';
export const INSTANCE_STATS_BLUR_GRAD = 'AlaeInstanceStatsBlurGrad';
export const INSTANCE_STATS_BLUR_TWICE_GRAD = 'AlaeInstanceStatsBlurTwiceGrad';
export const INSTANCE_STATS_BLUR_GRAD_GRAD = 'AlaeInstanceStatsBlurGradGrad';

export interface InstanceStats {
  /** The instance-normalised x [N, H, W, C]. */
  normed: Tensor4D;
  /** Per sample the means, then the stds [N, 2C]: the input of EncodeBlock's style linears (concat(mean, std)). */
  stats: Tensor;
}

const hasKernel = (name: string): boolean => tf.getKernel(name, tf.getBackend()) !== undefined;

/** Does the active backend run the statistics as one kernel (differentiated `d`)? */
export function instanceStatsFused(d: Differentiation = 'none'): boolean {
  return hasKernel(INSTANCE_STATS) && hasKernel(INSTANCE_STATS_GRAD) && (d !== 'twice' || (hasKernel(INSTANCE_STATS_TWICE_GRAD) && hasKernel(INSTANCE_STATS_GRAD_GRAD)));
}

/** Does it run blur(normed) and the statistics as one kernel (differentiated `d`)? */
export function instanceStatsBlurFused(d: Differentiation = 'none'): boolean {
  return hasKernel(INSTANCE_STATS) && hasKernel(INSTANCE_STATS_BLUR) && hasKernel(INSTANCE_STATS_BLUR_GRAD)
    && (d !== 'twice' || (hasKernel(INSTANCE_STATS_BLUR_TWICE_GRAD) && hasKernel(INSTANCE_STATS_BLUR_GRAD_GRAD)));
}

const run = (name: string, inputs: Record<string, Tensor>, attrs: Record<string, number>): Tensor[] =>
  [tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs) as Tensor | Tensor[]].flat();
const epsOf = (attrs: unknown): number => Number((attrs as { eps?: number } | undefined)?.eps);

/**
 * dx of the statistics (`blurred`: with blur(normed) in place of normed) from the gradients of
 * their two outputs: from the forward's kept normed and stats, or, where the gradient is
 * itself taped to be differentiated again (R1's inner gradient, `twice`), by the kernel that
 * reads x (see the kernel names). The outer gradient is not taped and reads the kept ones.
 */
function statsGradient(blurred: boolean, x: Tensor, kept: Tensor[], dys: Tensor[], eps: number, twice: boolean): Tensor {
  const [dnormed, dstats] = dys;
  if (twice && tf.engine().isTapeOn()) return run(blurred ? INSTANCE_STATS_BLUR_TWICE_GRAD : INSTANCE_STATS_TWICE_GRAD, { dnormed, dstats, x }, { eps })[0];
  // Nothing kept: a forward run as 'none', differentiated all the same.
  const [normed, stats] = kept.length === 2 ? kept : run(INSTANCE_STATS, { x }, { eps });
  return run(blurred ? INSTANCE_STATS_BLUR_GRAD : INSTANCE_STATS_GRAD, { dnormed, dstats, normed, stats }, { eps })[0];
}

// The gradient of the fused kernel (registered once per tfjs instance): the tape
// hands one dy per output (zeros for an output the loss does not use).
if (!tf.getGradient(INSTANCE_STATS)) {
  tf.registerGradient({
    kernelName: INSTANCE_STATS,
    inputsToSave: ['x'],
    outputsToSave: [true, true],
    gradFunc: (dys, saved, attrs) => {
      const [x, ...outputs] = saved;
      return { x: () => statsGradient(false, x, outputs, dys as Tensor[], epsOf(attrs), !!(attrs as { twice?: number } | undefined)?.twice) };
    },
  });
}

// The gradient of each twice-differentiable gradient kernel (R1's outer gradient through its
// inner one): one kernel for all three inputs; the tape takes those on its path and the rest
// are released with its scope.
for (const [grad, gradGrad] of [[INSTANCE_STATS_TWICE_GRAD, INSTANCE_STATS_GRAD_GRAD], [INSTANCE_STATS_BLUR_TWICE_GRAD, INSTANCE_STATS_BLUR_GRAD_GRAD]]) {
  if (tf.getGradient(grad)) continue;
  tf.registerGradient({
    kernelName: grad,
    inputsToSave: ['dnormed', 'dstats', 'x'],
    gradFunc: (ddx, saved, attrs) => {
      const [dnormed, dstats, x] = saved;
      const g = run(gradGrad, { ddx: ddx as Tensor, dnormed, dstats, x }, { eps: epsOf(attrs) });
      return { dnormed: () => g[0], dstats: () => g[1], x: () => g[2] };
    },
  });
}

/** The op chain: statsAndNorm, its mean and std side by side per sample. */
export function instanceStatsChain(x: Tensor4D, eps: number): InstanceStats {
  return tf.tidy(() => {
    const { mean, std, normed } = statsAndNorm(x, eps);
    const n = x.shape[0];
    return { normed, stats: tf.concat([tf.reshape(mean, [n, -1]), tf.reshape(std, [n, -1])], 1) };
  });
}

/** Mean, std and the instance norm of x (eps as nn.InstanceNorm2d's), fused where the backend can differentiate it as `d` asks. */
export function instanceStats(x: Tensor4D, eps: number, d: Differentiation = 'none'): InstanceStats {
  if (!instanceStatsFused(d)) return instanceStatsChain(x, eps);
  const [normed, stats] = run(INSTANCE_STATS, { x }, { eps, twice: d === 'twice' ? 1 : 0 });
  return { normed: normed as Tensor4D, stats };
}

/** blur(normed) (ops.ts's blur, EncodeBlock's before conv_2) in place of normed. */
export interface InstanceStatsBlurred {
  blurred: Tensor4D;
  /** As InstanceStats's. */
  stats: Tensor;
}

/** tfjs-core 4.22's Engine.runKernelFunc, internal: the customGrad machinery, for an op of two outputs that saves a tensor it does not return. */
interface KernelFuncRunner {
  runKernelFunc(params: {
    forwardFunc: (backend: unknown, save: tf.GradSaveFunc) => Tensor[];
    backwardsFunc: (dys: Tensor[], saved: Tensor[]) => Record<string, () => Tensor>;
    inputs: Record<string, Tensor>;
  }): Tensor[];
}

/**
 * blur(normed, d) and the statistics of x, one kernel where the backend has
 * the _BLUR kernels: its gradient blurs the incoming gradient as it reads it
 * and needs normed, which the forward keeps (attr keep) without returning it.
 */
export function instanceStatsBlurred(x: Tensor4D, eps: number, d: Differentiation = 'none'): InstanceStatsBlurred {
  if (!instanceStatsBlurFused(d)) {
    return tf.tidy(() => {
      const s = instanceStats(x, eps, d);
      return { blurred: blur(s.normed, d), stats: s.stats };
    });
  }
  const keep = d !== 'none';
  const [blurred, stats] = (tf.engine() as unknown as KernelFuncRunner).runKernelFunc({
    inputs: { x },
    forwardFunc: (_backend, save) => {
      const [out, st, normed] = run(INSTANCE_STATS_BLUR, { x }, { eps, keep: keep ? 1 : 0 });
      save(normed ? [x, normed, st] : [x]);
      return [out, st];
    },
    backwardsFunc: (dys, saved) => {
      const [xs, ...kept] = saved;
      return { x: () => statsGradient(true, xs, kept, dys, eps, d === 'twice') };
    },
  });
  return { blurred: blurred as Tensor4D, stats };
}
