/**
 * alae's own kernels, declared per backend in one place: each kernel name
 * (the nn/ and train/ modules define the names and the op chains they
 * replace) maps to its implementation on the `native` backend (the C++
 * addon, backend/native-*.ts) and on `webgpu` (WGSL, backend/webgpu/). They
 * are registered in tfjs's kernel registry when a backend is set up
 * (registerCustomKernels), and the ops pick the fused path where
 * tf.getKernel(name, backend) finds one, the op chain elsewhere. A second
 * table replaces kernels of tfjs's own on a backend (same name, same
 * results, fewer dispatches); a replacement gets the kernel it replaces, to
 * hand it the cases it does not take. A third replaces tfjs gradients
 * (registered per kernel name, for every backend) where the backend is one
 * of these.
 *
 * ALAE_FUSED=0 leaves every backend to the op chains; ALAE_NATIVE_FUSED=0
 * the native backend only (A/B comparisons, bisecting a numerical difference).
 */
import { tf } from '../tf.js';
import { CONV_RESAMPLE, CONV_RESAMPLE_BACKPROP_FILTER, CONV_RESAMPLE_BACKPROP_INPUT } from '../nn/conv-resample.js';
import { CONV_BIAS_LEAKY } from '../nn/conv-leaky.js';
import { LINEAR, LINEAR_GRAD } from '../nn/linear.js';
import {
  INSTANCE_STATS, INSTANCE_STATS_BLUR, INSTANCE_STATS_BLUR_GRAD, INSTANCE_STATS_BLUR_GRAD_GRAD, INSTANCE_STATS_BLUR_TWICE_GRAD, INSTANCE_STATS_GRAD,
  INSTANCE_STATS_GRAD_GRAD, INSTANCE_STATS_TWICE_GRAD,
} from '../nn/instance-stats.js';
import { BIAS_LEAKY_GRAD, BIAS_LEAKY_GRAD_GRAD, BIAS_LEAKY_TWICE, DOWNSAMPLE, LEAKY_GRAD, LEAKY_TWICE, PIXEL_NORM, UPSAMPLE } from '../nn/ops.js';
import { STYLE_EPILOGUE, STYLE_EPILOGUE_BLUR, STYLE_EPILOGUE_BLUR_GRAD, STYLE_EPILOGUE_GRAD } from '../nn/style-epilogue.js';
import { ADAM_UPDATE, LERP_UPDATE } from './update-kernels.js';
import { nativeInstanceStats, nativeInstanceStatsGrad } from './native-instance-stats.js';
import { nativeLeakyGrad, nativeLeakyTwice } from './native-leaky-twice.js';
import { nativeStyleEpilogue, nativeStyleEpilogueGrad } from './native-style-epilogue.js';
import { meanGradient, sumGradient } from './reduce-gradients.js';
import {
  webgpuConv2D, webgpuConv2DBackpropFilter, webgpuConv2DBackpropInput, webgpuConvBiasLeaky, webgpuConvResample, webgpuConvResampleBackpropFilter,
  webgpuConvResampleBackpropInput, webgpuFusedConv2D,
} from './webgpu/conv-kernels.js';
import {
  webgpuInstanceStats, webgpuInstanceStatsBlur, webgpuInstanceStatsBlurGrad, webgpuInstanceStatsBlurGradGrad, webgpuInstanceStatsBlurTwiceGrad,
  webgpuInstanceStatsGrad, webgpuInstanceStatsGradGrad, webgpuInstanceStatsTwiceGrad,
} from './webgpu/instance-stats.js';
import { webgpuBiasLeakyGrad, webgpuBiasLeakyGradGrad, webgpuLeakyGrad } from './webgpu/bias-leaky-grad.js';
import { webgpuBiasLeakyTwice, webgpuLeakyTwice } from './webgpu/leaky-twice.js';
import { webgpuAdamUpdate, webgpuLerpUpdate } from './webgpu/param-update.js';
import { webgpuPixelNorm } from './webgpu/pixel-norm.js';
import { webgpuLinear, webgpuLinearGrad } from './webgpu/linear.js';
import { webgpuMean, webgpuSum } from './webgpu/reduce.js';
import { webgpuDownsample, webgpuUpsample } from './webgpu/resample.js';
import { webgpuAddN, webgpuConcat, webgpuSplitV } from './webgpu/pieces.js';
import { tileGradient } from './webgpu/tile-grad.js';
import { webgpuStyleEpilogue, webgpuStyleEpilogueBlur, webgpuStyleEpilogueBlurGrad, webgpuStyleEpilogueGrad } from './webgpu/style-epilogue.js';

export type TensorInfo = tf.TensorInfo;

export interface KernelArgs {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}
export type KernelFn = (args: KernelArgs) => TensorInfo | TensorInfo[];

/** The backends alae has kernels for. */
export type CustomKernelBackend = 'native' | 'webgpu';

interface Implementations {
  /** Built from the addon; null when this build of it lacks the kernel. */
  native?: (addon: object) => KernelFn | null;
  webgpu?: KernelFn;
}

/** Kernel name -> implementation per backend. */
const KERNELS: Record<string, Implementations> = {
  [STYLE_EPILOGUE]: { native: nativeStyleEpilogue, webgpu: webgpuStyleEpilogue },
  [STYLE_EPILOGUE_GRAD]: { native: nativeStyleEpilogueGrad, webgpu: webgpuStyleEpilogueGrad },
  // The decoder's blur after conv_1 read on the fly; native runs the blur as its own op.
  [STYLE_EPILOGUE_BLUR]: { webgpu: webgpuStyleEpilogueBlur },
  [STYLE_EPILOGUE_BLUR_GRAD]: { webgpu: webgpuStyleEpilogueBlurGrad },
  [INSTANCE_STATS]: { native: nativeInstanceStats, webgpu: webgpuInstanceStats },
  [INSTANCE_STATS_GRAD]: { native: nativeInstanceStatsGrad, webgpu: webgpuInstanceStatsGrad },
  // Native keeps the op chain where R1 differentiates the statistics twice.
  [INSTANCE_STATS_TWICE_GRAD]: { webgpu: webgpuInstanceStatsTwiceGrad },
  [INSTANCE_STATS_GRAD_GRAD]: { webgpu: webgpuInstanceStatsGradGrad },
  // The encoder's blur(normed) read on the fly; native runs the blur as its own op.
  [INSTANCE_STATS_BLUR]: { webgpu: webgpuInstanceStatsBlur },
  [INSTANCE_STATS_BLUR_GRAD]: { webgpu: webgpuInstanceStatsBlurGrad },
  [INSTANCE_STATS_BLUR_TWICE_GRAD]: { webgpu: webgpuInstanceStatsBlurTwiceGrad },
  [INSTANCE_STATS_BLUR_GRAD_GRAD]: { webgpu: webgpuInstanceStatsBlurGradGrad },
  [LEAKY_TWICE]: { native: nativeLeakyTwice, webgpu: webgpuLeakyTwice },
  [LEAKY_GRAD]: { native: nativeLeakyGrad, webgpu: webgpuLeakyGrad },
  [BIAS_LEAKY_TWICE]: { webgpu: webgpuBiasLeakyTwice },
  [BIAS_LEAKY_GRAD]: { webgpu: webgpuBiasLeakyGrad },
  [BIAS_LEAKY_GRAD_GRAD]: { webgpu: webgpuBiasLeakyGradGrad },
  [UPSAMPLE]: { webgpu: webgpuUpsample },
  [DOWNSAMPLE]: { webgpu: webgpuDownsample },
  // The resampling beside a convolution, in the convolution's GEMM.
  [CONV_RESAMPLE]: { webgpu: webgpuConvResample },
  [CONV_RESAMPLE_BACKPROP_INPUT]: { webgpu: webgpuConvResampleBackpropInput },
  [CONV_RESAMPLE_BACKPROP_FILTER]: { webgpu: webgpuConvResampleBackpropFilter },
  // The encoder's bias and leaky ReLU in the convolution's store.
  [CONV_BIAS_LEAKY]: { webgpu: webgpuConvBiasLeaky },
  [PIXEL_NORM]: { webgpu: webgpuPixelNorm },
  // The linear layers in training: one GEMM for the value, one for all the gradients asked for.
  [LINEAR]: { webgpu: webgpuLinear },
  [LINEAR_GRAD]: { webgpu: webgpuLinearGrad },
  // The native backend updates parameters in JS loops over host memory (train/host-update.ts).
  [ADAM_UPDATE]: { webgpu: webgpuAdamUpdate },
  [LERP_UPDATE]: { webgpu: webgpuLerpUpdate },
};

/** tfjs kernel name -> alae's replacement per backend, given the backend's own kernel. */
const REPLACED: Record<string, { webgpu?: (replaced: KernelFn) => KernelFn }> = {
  Sum: { webgpu: webgpuSum },
  Mean: { webgpu: webgpuMean },
  // Several pieces a dispatch (the device's storage-buffer limit), not one each (tf.split, tf.concat's gradient).
  SplitV: { webgpu: webgpuSplitV },
  // More inputs than one tfjs program binds: each dispatch copies its share into place, no joining pass.
  Concat: { webgpu: webgpuConcat },
  // More inputs than the device binds: tfjs's program fails; a sum carried from one dispatch to the next.
  AddN: { webgpu: webgpuAddN },
  // Tiled implicit GEMMs, the forward summed (almost) exactly (webgpu/conv-kernels.ts).
  Conv2D: { webgpu: webgpuConv2D },
  FusedConv2D: { webgpu: webgpuFusedConv2D },
  Conv2DBackpropInput: { webgpu: webgpuConv2DBackpropInput },
  Conv2DBackpropFilter: { webgpu: webgpuConv2DBackpropFilter },
};

type GradFunc = tf.GradConfig['gradFunc'];

/** tfjs kernel name -> the gradient alae uses instead on a backend, given tfjs's. */
const GRADIENTS: Record<string, Partial<Record<CustomKernelBackend, (theirs: GradFunc) => GradFunc>>> = {
  Tile: { webgpu: tileGradient },
  // Without tfjs's tensor of ones as large as the input (R1 differentiates the encoder's means twice).
  Sum: { native: sumGradient },
  Mean: { native: meanGradient },
};

/** `${backend}/${kernel}` of the kernels registered here (a replacement is registered once). */
const registered = new Set<string>();
/** `${backend}/${kernel}` -> the kernel a replacement replaced. */
const replacedConfigs = new Map<string, tf.KernelConfig>();

/**
 * The kernel of tfjs's own that alae's replacement of `kernelName` on `backend`
 * replaced (undefined when none was registered): for A/B comparisons in tests
 * and benchmarks, which register it back for a while.
 */
export function replacedKernel(kernelName: string, backend: CustomKernelBackend): tf.KernelConfig | undefined {
  return replacedConfigs.get(`${backend}/${kernelName}`);
}

/** Are the custom kernels switched off for `backend` (ALAE_FUSED=0, or ALAE_NATIVE_FUSED=0 for native)? */
export function customKernelsOff(backend: CustomKernelBackend, env: NodeJS.ProcessEnv = process.env): boolean {
  return env.ALAE_FUSED === '0' || (backend === 'native' && env.ALAE_NATIVE_FUSED === '0');
}

/** Does tfjs backend `name` get alae's kernels (one of ours, not switched off)? */
export function customKernelsOn(name: string): boolean {
  return (name === 'native' || name === 'webgpu') && !customKernelsOff(name);
}

/**
 * Register the custom kernels of `backend` under its tfjs name (idempotent);
 * the native ones need the loaded addon. Returns the names registered now.
 */
export function registerCustomKernels(backend: CustomKernelBackend, addon?: object): string[] {
  if (customKernelsOff(backend)) return [];
  const done: string[] = [];
  const register = (kernelName: string, fn: KernelFn, replaced?: tf.KernelConfig): void => {
    if (replaced) tf.unregisterKernel(kernelName, backend);
    tf.registerKernel({ ...replaced, kernelName, backendName: backend, kernelFunc: fn as unknown as tf.KernelFunc });
    registered.add(`${backend}/${kernelName}`);
    done.push(kernelName);
  };
  for (const [kernelName, impl] of Object.entries(KERNELS)) {
    if (tf.getKernel(kernelName, backend)) continue;
    const fn = backend === 'native' ? (addon && impl.native ? impl.native(addon) : null) : impl.webgpu ?? null;
    if (fn) register(kernelName, fn);
  }
  for (const [kernelName, impl] of Object.entries(REPLACED)) {
    const own = tf.getKernel(kernelName, backend);
    const make = backend === 'webgpu' ? impl.webgpu : undefined;
    if (!own || !make || registered.has(`${backend}/${kernelName}`)) continue;
    register(kernelName, make(own.kernelFunc as unknown as KernelFn), own);
    replacedConfigs.set(`${backend}/${kernelName}`, own);
  }
  for (const [kernelName, impl] of Object.entries(GRADIENTS)) {
    const config = tf.getGradient(kernelName);
    const make = impl[backend];
    if (!config || !make || registered.has(`${backend}/${kernelName} gradient`)) continue;
    const theirs = config.gradFunc;
    const ours = make(theirs);
    // Gradients are not per backend: ours where the active backend is this one.
    tf.registerGradient({ ...config, gradFunc: (dy, saved, attrs) => (tf.getBackend() === backend ? ours : theirs)(dy, saved, attrs) });
    registered.add(`${backend}/${kernelName} gradient`);
  }
  return done;
}
