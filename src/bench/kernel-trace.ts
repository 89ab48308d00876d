/**
 * What one iteration asks of tfjs: registered kernels run, by name (forward and backward; a
 * customGrad wrapper is not a kernel, the kernels inside it are), and the peak of the bytes
 * held by live tensors, read after every kernel as tf.profile reads it. tf.profile itself is
 * not used: it times every kernel, which on webgpu ends the compute pass and queries
 * timestamps around each dispatch, changing what is measured.
 */
import { tf } from '../tf.js';

export interface KernelCounts {
  /** Kernels run, by tfjs kernel name. */
  byName: Map<string, number>;
  /** The most bytes held by tensors after any kernel (tfjs's count, as tf.profile's peakBytes). */
  peakTensorBytes: number;
}

interface KernelParams {
  kernelName?: string;
}
interface EngineInternals {
  runKernelFunc(params: KernelParams): unknown;
}

export interface KernelTrace {
  /**
   * The outermost named tfjs kernel running now (a kernel may run others; a customGrad op is an
   * unnamed kernel around the named ones it runs), or null between kernels.
   */
  outermost(): string | null;
  /** Stop counting and restore the engine. */
  stop(): KernelCounts;
}

/** Count from now until stop(). Not reentrant. */
export function traceKernels(): KernelTrace {
  // Every op and every gradient goes through the engine's runKernelFunc (tfjs-core 4.x).
  const engine = tf.engine() as unknown as EngineInternals;
  const own = Object.prototype.hasOwnProperty.call(engine, 'runKernelFunc');
  const original = engine.runKernelFunc;
  const byName = new Map<string, number>();
  let peakTensorBytes = tf.memory().numBytes;
  const running: Array<string | undefined> = [];
  engine.runKernelFunc = function (this: EngineInternals, params: KernelParams): unknown {
    running.push(params.kernelName);
    let out: unknown;
    try {
      out = original.call(this, params);
    } finally {
      running.pop();
    }
    if (params.kernelName) byName.set(params.kernelName, (byName.get(params.kernelName) ?? 0) + 1);
    peakTensorBytes = Math.max(peakTensorBytes, tf.memory().numBytes);
    return out;
  };
  return {
    outermost: () => running.find((k) => k !== undefined) ?? (running.length ? '(customGrad op)' : null),
    stop(): KernelCounts {
      if (own) engine.runKernelFunc = original;
      else delete (engine as Partial<EngineInternals>).runKernelFunc;
      return { byName, peakTensorBytes };
    },
  };
}
