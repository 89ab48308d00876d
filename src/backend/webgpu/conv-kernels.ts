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
 *
 * Three kernels of alae's own fold 2x resampling into a stride-1 'same'
 * convolution (nn/conv-resample.ts names them and their gradients):
 * CONV_RESAMPLE (x, filter, optional bias), CONV_RESAMPLE_BACKPROP_INPUT (dy, filter) and
 * CONV_RESAMPLE_BACKPROP_FILTER (x, dy; attr filterShape), attrs coarse and
 * scale (conv-geometry.ts's Resample). A fourth, CONV_BIAS_LEAKY (nn/conv-leaky.ts), adds
 * the bias and the twice-differentiable leaky ReLU in the GEMM's store.
 */
import { tf } from '../../tf.js';
import type { KernelArgs, KernelFn, TensorInfo } from '../kernel-adapter.js';
import { CONV_RESAMPLE, CONV_RESAMPLE_BACKPROP_FILTER, CONV_RESAMPLE_BACKPROP_INPUT } from '../../nn/conv-resample.js';
import { CONV_BIAS_LEAKY } from '../../nn/conv-leaky.js';
import { type ConvGeometry, type Resample, allFloat32, convGeometry as geometry, type ConvAttrs } from './conv-geometry.js';
import { conv2dForward, type ConvActivation } from './conv2d.js';
import { conv2dBackpropInput } from './conv2d-backprop-input.js';
import { conv2dBackpropFilter } from './conv2d-backprop-filter.js';
import { type WebGPUBackendLike, webgpuBackend } from './runner.js';

/** One of our kernels: a result, or null to hand the call to the kernel it replaces. */
type OurKernel = (args: KernelArgs, backend: WebGPUBackendLike) => TensorInfo | null;

/** Accumulation of the forward convolutions (see the module doc). */
export const exactForward = (): boolean => process.env.ALAE_WEBGPU_CONV_FP32 !== '1';

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

/** A resampling kernel's attrs, checked. */
function resampleOf(name: string, attrs: tf.NamedAttrMap | undefined): Resample {
  const { coarse, scale } = (attrs ?? {}) as unknown as Partial<Resample>;
  if ((coarse !== 'input' && coarse !== 'output') || typeof scale !== 'number') throw new Error(`${name}: attrs coarse ('input' or 'output') and scale are required`);
  return { coarse, scale };
}

/** [N,H,W,C] of a tensor stored coarse (when `coarse`) on the fine grid. */
const fine = (shape: number[], coarse: boolean): number[] => (coarse ? [shape[0], 2 * shape[1], 2 * shape[2], shape[3]] : shape);

/** The fine stride-1 'same' convolution of input xShape by filterShape; throws unless float32 NHWC with even sizes. */
function resampleGeometry(name: string, xShape: number[], filterShape: number[], ts: Array<TensorInfo | undefined>): ConvGeometry {
  const g = ts.every((t) => t && t.shape.length === 4) && allFloat32(...ts) ? geometry(xShape, filterShape, { strides: 1, pad: 'same' }) : null;
  if (!g || g.inH % 2 !== 0 || g.inW % 2 !== 0) throw new Error(`${name}: expected float32 NHWC tensors of even height and width, got ${ts.map((t) => t?.shape.join('x')).join(', ')}`);
  return g;
}

function expectShape(name: string, what: string, t: TensorInfo, shape: number[]): void {
  if (!tf.util.arraysEqual(t.shape, shape)) throw new Error(`${name}: ${what} is ${t.shape.join('x')}, expected ${shape.join('x')}`);
}

/** The shape of dy of g's convolution as stored (coarse when the output side is). */
const dyShape = (g: ConvGeometry, r: Resample): number[] =>
  r.coarse === 'output' ? [g.batch, g.outH / 2, g.outW / 2, g.outC] : [g.batch, g.outH, g.outW, g.outC];

export const webgpuConvResample: KernelFn = ({ inputs: { x, filter, bias }, backend, attrs }) => {
  const r = resampleOf(CONV_RESAMPLE, attrs);
  const g = resampleGeometry(CONV_RESAMPLE, fine(x?.shape ?? [], r.coarse === 'input'), filter?.shape ?? [], [x, filter]);
  if (bias) expectShape(CONV_RESAMPLE, 'bias', bias, [g.outC]);
  if (!allFloat32(bias)) throw new Error(`${CONV_RESAMPLE}: bias must be float32`);
  return conv2dForward(webgpuBackend(backend), x!, filter!, g, exactForward(), { bias, activation: 'linear', leakyreluAlpha: 0 }, r);
};

export const webgpuConvResampleBackpropInput: KernelFn = ({ inputs: { dy, filter }, backend, attrs }) => {
  const name = CONV_RESAMPLE_BACKPROP_INPUT;
  const r = resampleOf(name, attrs);
  // The fine convolution's input: dy's fine pixels, the filter's input channels.
  const [n, h, w] = fine(dy?.shape ?? [], r.coarse === 'output');
  const g = resampleGeometry(name, [n, h, w, filter?.shape[2] ?? 0], filter?.shape ?? [], [dy, filter]);
  expectShape(name, 'dy', dy!, dyShape(g, r));
  return conv2dBackpropInput(webgpuBackend(backend), dy!, filter!, g, r);
};

export const webgpuConvResampleBackpropFilter: KernelFn = ({ inputs: { x, dy }, backend, attrs }) => {
  const name = CONV_RESAMPLE_BACKPROP_FILTER;
  const r = resampleOf(name, attrs);
  const filterShape = (attrs as { filterShape?: number[] } | undefined)?.filterShape ?? [];
  const g = resampleGeometry(name, fine(x?.shape ?? [], r.coarse === 'input'), filterShape, [x, dy]);
  expectShape(name, 'dy', dy!, dyShape(g, r));
  return conv2dBackpropFilter(webgpuBackend(backend), x!, dy!, g, r);
};

export const webgpuConvBiasLeaky: KernelFn = ({ inputs: { x, filter, bias }, backend, attrs }) => {
  const name = CONV_BIAS_LEAKY;
  const a = (attrs ?? {}) as unknown as ConvAttrs & { down?: boolean };
  const g = a.down
    ? resampleGeometry(name, x?.shape ?? [], filter?.shape ?? [], [x, filter])
    : allFloat32(x, filter) && x && filter ? geometry(x.shape, filter.shape, a) : null;
  if (!g) throw new Error(`${name}: expected float32 NHWC x and HWIO filter, got ${x?.shape.join('x')}, ${filter?.shape.join('x')}`);
  if (!bias || !allFloat32(bias)) throw new Error(`${name}: a float32 bias is required`);
  expectShape(name, 'bias', bias, [g.outC]);
  return conv2dForward(webgpuBackend(backend), x!, filter!, g, exactForward(), { bias, activation: 'leakyTwice', leakyreluAlpha: 0.2 },
    a.down ? { coarse: 'output', scale: 1 } : undefined);
};
