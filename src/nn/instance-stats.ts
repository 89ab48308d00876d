/**
 * The encoder's block statistics (EncodeBlock of net.py): per sample and
 * channel over H, W, the mean and std (no epsilon) that feed the style
 * linears, and the instance-normalised activations (eps inside the sqrt).
 * As tfjs ops (statsAndNorm in ops.ts) this is 8 kernels forward and ~15
 * backward, most of them full passes over the activations; a backend that
 * registers INSTANCE_STATS (native: native/instance_stats.cc) runs it as one
 * forward and one backward kernel with the chain's float32 roundings.
 *
 * Its gradient is one first-order kernel, which tfjs cannot differentiate
 * again: with no other path it throws, beside another path it would drop
 * this one silently. So it is not used where the ops are differentiated
 * twice (Differentiation 'twice', R1's inner gradient): there the chain
 * runs, whose every op tfjs differentiates twice.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { type Differentiation, statsAndNorm } from './ops.js';

/** Kernel names a backend may register. Outputs: normed [N,H,W,C], mean and std [N,1,1,C]. */
export const INSTANCE_STATS = 'AlaeInstanceStats';
export const INSTANCE_STATS_GRAD = 'AlaeInstanceStatsGrad';

export interface InstanceStats {
  mean: Tensor4D;
  std: Tensor4D;
  normed: Tensor4D;
}

/** Does the active backend run the statistics as one kernel? */
export function instanceStatsFused(): boolean {
  const backend = tf.getBackend();
  return tf.getKernel(INSTANCE_STATS, backend) !== undefined && tf.getKernel(INSTANCE_STATS_GRAD, backend) !== undefined;
}

// The gradient of the fused kernel (registered once per tfjs instance): the tape
// hands one dy per output (zeros for an output the loss does not use).
if (!tf.getGradient(INSTANCE_STATS)) {
  tf.registerGradient({
    kernelName: INSTANCE_STATS,
    outputsToSave: [true, false, true],
    gradFunc: (dys, saved, attrs) => {
      const [dnormed, dmean, dstd] = dys as Tensor[];
      const [normed, std] = saved;
      return {
        x: () => tf.engine().runKernel(INSTANCE_STATS_GRAD, { dnormed, dmean, dstd, normed, std } as unknown as tf.NamedTensorMap,
          { eps: Number((attrs as { eps?: number } | undefined)?.eps) }) as Tensor,
      };
    },
  });
}

/** Mean, std and the instance norm of x (eps as nn.InstanceNorm2d's), fused where the backend can and the ops are differentiated at most once. */
export function instanceStats(x: Tensor4D, eps: number, d: Differentiation = 'none'): InstanceStats {
  if (d === 'twice' || !instanceStatsFused()) return statsAndNorm(x, eps);
  const [normed, mean, std] = tf.engine().runKernel(INSTANCE_STATS, { x } as unknown as tf.NamedTensorMap, { eps }) as Tensor4D[];
  return { mean, std, normed };
}
