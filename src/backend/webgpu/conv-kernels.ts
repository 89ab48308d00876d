/**
 * Our convolution kernels for tfjs's webgpu backend, which the kernel
 * adapter (../kernel-adapter.ts) registers in place of tfjs's under tfjs's
 * kernel names, so that ops, gradients and double backprop use them
 * unchanged: Conv2D and FusedConv2D (conv2d.ts), Conv2DBackpropInput (also
 * conv2dTranspose; conv2d-backprop-input.ts), Conv2DBackpropFilter
 * (conv2d-backprop-filter.ts). Each handles NHWC float32 with dilation 1
 * (any kernel size, stride and padding) and hands anything else to the
 * kernel it replaces.
 *
 * Precision: the forward convolutions accumulate (almost) exactly (conv-gemm.ts),
 * as native's Conv2D does in double: training gradients are checked against
 * a float64 reference, and with float32 sums pre-activations next to a
 * leaky-ReLU kink land on the side their summation order puts them, which
 * decides gradients that an instance norm nearly cancels (README,
 * "Convolutions on webgpu"). The gradients accumulate in float32, as native's do.
 * ALAE_WEBGPU_CONV_FP32=1 makes the forward float32 too (for speed
 * comparisons; parity then fails).
 */
import { tf } from '../../tf.js';
import type { KernelArgs, KernelFn, TensorInfo } from '../kernel-adapter.js';
import { allFloat32, convGeometry as geometry, type ConvAttrs } from './conv-geometry.js';
import { conv2dForward, type ConvActivation } from './conv2d.js';
import { conv2dBackpropInput } from './conv2d-backprop-input.js';
import { conv2dBackpropFilter } from './conv2d-backprop-filter.js';
import { type WebGPUBackendLike, webgpuBackend } from './runner.js';

/** One of our kernels: a result, or null to hand the call to the kernel it replaces. */
type OurKernel = (args: KernelArgs, backend: WebGPUBackendLike) => TensorInfo | null;

/** Accumulation of the forward convolutions (see the module doc). */
const exactForward = (): boolean => process.env.ALAE_WEBGPU_CONV_FP32 !== '1';

const ACTIVATIONS: readonly string[] = ['linear', 'relu', 'leakyrelu'] satisfies ConvActivation[];

/** Ours, given the kernel it replaces: the fallback for what ours does not handle. */
const replacing = (ours: OurKernel) => (replaced: KernelFn): KernelFn => (args) => ours(args, webgpuBackend(args.backend)) ?? replaced(args);

export const webgpuConv2D = replacing(({ inputs: { x, filter }, attrs }, backend) => {
  const g = allFloat32(x, filter) ? geometry(x!.shape, filter!.shape, attrs as unknown as ConvAttrs) : null;
  return g && conv2dForward(backend, x!, filter!, g, exactForward());
});

export const webgpuFusedConv2D = replacing(({ inputs: { x, filter, bias, preluActivationWeights }, attrs }, backend) => {
  const a = attrs as unknown as ConvAttrs & { activation?: string; leakyreluAlpha?: number };
  const activation = a.activation ?? 'linear';
  if (preluActivationWeights || !ACTIVATIONS.includes(activation) || !allFloat32(x, filter, bias)) return null;
  const g = geometry(x!.shape, filter!.shape, a);
  if (!g || (bias && tf.util.sizeFromShape(bias.shape) !== g.outC)) return null;
  return conv2dForward(backend, x!, filter!, g, exactForward(), { bias, activation: activation as ConvActivation, leakyreluAlpha: a.leakyreluAlpha ?? 0.2 });
});

export const webgpuConv2DBackpropInput = replacing(({ inputs: { dy, filter }, attrs }, backend) => {
  const a = attrs as unknown as ConvAttrs & { inputShape: number[] };
  const g = allFloat32(dy, filter) ? geometry(a.inputShape, filter!.shape, a) : null;
  if (!g || !tf.util.arraysEqual(dy!.shape, [g.batch, g.outH, g.outW, g.outC])) return null;
  return conv2dBackpropInput(backend, dy!, filter!, g);
});

export const webgpuConv2DBackpropFilter = replacing(({ inputs: { x, dy }, attrs }, backend) => {
  const a = attrs as unknown as ConvAttrs & { filterShape: number[] };
  const g = allFloat32(x, dy) ? geometry(x!.shape, a.filterShape, a) : null;
  if (!g || !tf.util.arraysEqual(dy!.shape, [g.batch, g.outH, g.outW, g.outC])) return null;
  return conv2dBackpropFilter(backend, x!, dy!, g);
});
