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
 * Kernel names a backend may register. INSTANCE_STATS: x -> normed [N,H,W,C],
 * mean and std [N,1,1,C] (attr eps). INSTANCE_STATS_GRAD: dnormed, dmean,
 * dstd, normed, std -> dx. INSTANCE_STATS_GRAD_GRAD, the gradient of the
 * latter: dx's gradient `ddx` and dnormed, dstd, normed, std -> the gradients
 * of dnormed, dmean, dstd, normed and std.
 */
export const INSTANCE_STATS = 'AlaeInstanceStats';
export const INSTANCE_STATS_GRAD = 'AlaeInstanceStatsGrad';
export const INSTANCE_STATS_GRAD_GRAD = 'AlaeInstanceStatsGradGrad';

export interface InstanceStats {
  mean: Tensor4D;
  std: Tensor4D;
  normed: Tensor4D;
}

const hasKernel = (name: string): boolean => tf.getKernel(name, tf.getBackend()) !== undefined;

/** Does the active backend run the statistics as one kernel (differentiated `d`)? */
export function instanceStatsFused(d: Differentiation = 'none'): boolean {
  return hasKernel(INSTANCE_STATS) && hasKernel(INSTANCE_STATS_GRAD) && (d !== 'twice' || hasKernel(INSTANCE_STATS_GRAD_GRAD));
}

const epsOf = (attrs: unknown): number => Number((attrs as { eps?: number } | undefined)?.eps);

// The gradient of the fused kernel (registered once per tfjs instance): the tape
// hands one dy per output (zeros for an output the loss does not use). Differentiated
// twice (attr twice), it recomputes normed and std from the saved input: tfjs records
// the copies it saves of a kernel's outputs before the kernel itself, so a gradient
// through them would be lost (why tfjs's own exp and sigmoid have wrong second derivatives).
if (!tf.getGradient(INSTANCE_STATS)) {
  tf.registerGradient({
    kernelName: INSTANCE_STATS,
    inputsToSave: ['x'],
    outputsToSave: [true, false, true],
    gradFunc: (dys, saved, attrs) => {
      const [dnormed, dmean, dstd] = dys as Tensor[];
      const [x, ...outputs] = saved;
      const [normed, std] = (attrs as { twice?: number } | undefined)?.twice
        ? (([n, , s]) => [n, s])(tf.engine().runKernel(INSTANCE_STATS, { x } as unknown as tf.NamedTensorMap, { eps: epsOf(attrs) }) as Tensor[])
        : outputs;
      return {
        x: () => tf.engine().runKernel(INSTANCE_STATS_GRAD, { dnormed, dmean, dstd, normed, std } as unknown as tf.NamedTensorMap,
          { eps: epsOf(attrs) }) as Tensor,
      };
    },
  });
}

// The gradient of the gradient kernel (R1's outer gradient through its inner one): one kernel
// for all five inputs; the tape takes those on its path and the rest are released with its scope.
if (!tf.getGradient(INSTANCE_STATS_GRAD)) {
  tf.registerGradient({
    kernelName: INSTANCE_STATS_GRAD,
    inputsToSave: ['dnormed', 'dstd', 'normed', 'std'],
    gradFunc: (ddx, saved, attrs) => {
      const [dnormed, dstd, normed, std] = saved;
      const g = tf.engine().runKernel(INSTANCE_STATS_GRAD_GRAD, { ddx: ddx as Tensor, dnormed, dstd, normed, std } as unknown as tf.NamedTensorMap,
        { eps: epsOf(attrs) }) as Tensor[];
      return { dnormed: () => g[0], dmean: () => g[1], dstd: () => g[2], normed: () => g[3], std: () => g[4] };
    },
  });
}

/** Mean, std and the instance norm of x (eps as nn.InstanceNorm2d's), fused where the backend can differentiate it as `d` asks. */
export function instanceStats(x: Tensor4D, eps: number, d: Differentiation = 'none'): InstanceStats {
  if (!instanceStatsFused(d)) return statsAndNorm(x, eps);
  const [normed, mean, std] = tf.engine().runKernel(INSTANCE_STATS, { x } as unknown as tf.NamedTensorMap, { eps, twice: d === 'twice' ? 1 : 0 }) as Tensor4D[];
  return { mean, std, normed };
}
