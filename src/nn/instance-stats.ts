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
 * fused path needs the gradient kernel's own gradient, INSTANCE_STATS_GRAD_GRAD
 * (webgpu has it): without it, tfjs could not differentiate the gradient
 * kernel again (with no other path it throws, beside another path it would
 * drop this one silently), so the chain runs, whose every op tfjs
 * differentiates twice.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { type Differentiation, statsAndNorm } from './ops.js';

/**
 * Kernel names a backend may register. INSTANCE_STATS: x -> normed [N,H,W,C]
 * and stats [N, 2C] (each sample's means, then its stds; attr eps).
 * INSTANCE_STATS_GRAD: dnormed, dstats, normed, stats -> dx.
 * INSTANCE_STATS_GRAD_GRAD, the gradient of the latter: dx's gradient `ddx`
 * and dnormed, dstats, normed, stats -> the gradients of dnormed, dstats,
 * normed and stats.
 */
export const INSTANCE_STATS = 'AlaeInstanceStats';
export const INSTANCE_STATS_GRAD = 'AlaeInstanceStatsGrad';
export const INSTANCE_STATS_GRAD_GRAD = 'AlaeInstanceStatsGradGrad';

export interface InstanceStats {
  /** The instance-normalised x [N, H, W, C]. */
  normed: Tensor4D;
  /** Per sample the means, then the stds [N, 2C]: the input of EncodeBlock's style linears (concat(mean, std)). */
  stats: Tensor;
}

const hasKernel = (name: string): boolean => tf.getKernel(name, tf.getBackend()) !== undefined;

/** Does the active backend run the statistics as one kernel (differentiated `d`)? */
export function instanceStatsFused(d: Differentiation = 'none'): boolean {
  return hasKernel(INSTANCE_STATS) && hasKernel(INSTANCE_STATS_GRAD) && (d !== 'twice' || hasKernel(INSTANCE_STATS_GRAD_GRAD));
}

const run = (name: string, inputs: Record<string, Tensor>, attrs: Record<string, number>): Tensor[] =>
  [tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs) as Tensor | Tensor[]].flat();
const epsOf = (attrs: unknown): number => Number((attrs as { eps?: number } | undefined)?.eps);

// The gradient of the fused kernel (registered once per tfjs instance): the tape
// hands one dy per output (zeros for an output the loss does not use). Differentiated
// twice (attr twice), it recomputes normed and stats from the saved input: tfjs records
// the copies it saves of a kernel's outputs before the kernel itself, so a gradient
// through them would be lost (why tfjs's own exp and sigmoid have wrong second derivatives).
if (!tf.getGradient(INSTANCE_STATS)) {
  tf.registerGradient({
    kernelName: INSTANCE_STATS,
    inputsToSave: ['x'],
    outputsToSave: [true, true],
    gradFunc: (dys, saved, attrs) => {
      const [dnormed, dstats] = dys as Tensor[];
      const [x, ...outputs] = saved;
      const [normed, stats] = (attrs as { twice?: number } | undefined)?.twice ? run(INSTANCE_STATS, { x }, { eps: epsOf(attrs) }) : outputs;
      return { x: () => run(INSTANCE_STATS_GRAD, { dnormed, dstats, normed, stats }, { eps: epsOf(attrs) })[0] };
    },
  });
}

// The gradient of the gradient kernel (R1's outer gradient through its inner one): one kernel
// for all four inputs; the tape takes those on its path and the rest are released with its scope.
if (!tf.getGradient(INSTANCE_STATS_GRAD)) {
  tf.registerGradient({
    kernelName: INSTANCE_STATS_GRAD,
    inputsToSave: ['dnormed', 'dstats', 'normed', 'stats'],
    gradFunc: (ddx, saved, attrs) => {
      const [dnormed, dstats, normed, stats] = saved;
      const g = run(INSTANCE_STATS_GRAD_GRAD, { ddx: ddx as Tensor, dnormed, dstats, normed, stats }, { eps: epsOf(attrs) });
      return { dnormed: () => g[0], dstats: () => g[1], normed: () => g[2], stats: () => g[3] };
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
