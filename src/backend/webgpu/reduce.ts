/**
 * tfjs-webgpu's Sum and Mean without their transpose. tfjs reduces over the
 * innermost axes only, so a reduction over others (a bias gradient's sum
 * over N, H, W; the broadcast gradients of binary ops) first transposes the
 * input into a new buffer: two dispatches. Here one workgroup per output
 * reads the reduced values in place, in the order the transposed copy would
 * hold them, with tfjs's workgroup size and tree (wgsl.ts): the same bits in
 * one dispatch. Reductions tfjs does without a transpose, and other dtypes,
 * stay tfjs's.
 */
import { tf } from '../../tf.js';
import type { KernelFn, TensorInfo } from '../kernel-adapter.js';
import { type Uniforms, type WgslProgram, bindings, run, webgpuBackend } from './runner.js';
import { PAIR_INDEX, PAIR_PARAMS, chainReduceSize, pairWorkgroups, treeSum } from './wgsl.js';

/** Dimensions a reduction walks, outermost first: at most this many kept and this many reduced. */
const MAX_DIMS = 6;

const dimFields = (prefix: string): string =>
  Array.from({ length: MAX_DIMS }, (_, i) => `${prefix}Size${i}: u32, ${prefix}Stride${i}: u32,`).join(' ');

/** The flat offset of index `i` over the dims `prefix` (sizes of unused dims are 1). */
const offsetOf = (prefix: string): string => `
fn ${prefix}Offset(index: u32) -> u32 {
  var i = index;
  var off = 0u;
${Array.from({ length: MAX_DIMS }, (_, k) => MAX_DIMS - 1 - k).map((k) => `  off += (i % u.${prefix}Size${k}) * u.${prefix}Stride${k};\n  i = i / u.${prefix}Size${k};`).join('\n')}
  return off;
}`;

const program = (wg: number, mean: boolean): WgslProgram => ({
  name: mean ? 'AlaeMean' : 'AlaeSum',
  key: `${wg}`,
  code: () => `
${bindings(['x'], ['y'], `outSize: u32, reduceSize: u32, ${dimFields('kept')} ${dimFields('red')}`)}
${treeSum(wg)}
${offsetOf('kept')}
${offsetOf('red')}
@compute @workgroup_size(${wg})
fn main(${PAIR_PARAMS}) {
  let o = ${PAIR_INDEX};
  if (o >= u.outSize) { return; }
  let base = keptOffset(o);
  var acc = 0.0;
  for (var r = t; r < u.reduceSize; r += ${wg}u) { acc += x[base + redOffset(r)]; }
  let total = tree(t, acc, u.reduceSize);
  if (t == 0u) { y[o] = total${mean ? ' / f32(u.reduceSize)' : ''}; }
}`,
});

/** Sizes and strides (in values) of the dims of `shape` picked by `axes`, padded to MAX_DIMS with size 1. */
function dims(shape: number[], axes: number[]): Uniforms {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out: Uniforms = [];
  for (let k = 0; k < MAX_DIMS; k++) {
    const a = axes[k - (MAX_DIMS - axes.length)];
    out.push(['u32', a === undefined ? 1 : shape[a]], ['u32', a === undefined ? 0 : strides[a]]);
  }
  return out;
}

function reduce(mean: boolean, replaced: KernelFn): KernelFn {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const rank = x.shape.length;
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const size = tf.util.sizeFromShape(x.shape);
    // tfjs's own path where it needs no transpose (or the input is not float32, or empty).
    if (x.dtype !== 'float32' || size === 0 || rank > MAX_DIMS || tf.backend_util.getAxesPermutation(axes, rank) === null) return replaced(args);
    const kept = Array.from({ length: rank }, (_, i) => i).filter((i) => !axes.includes(i));
    const reduceSize = axes.reduce((s, a) => s * x.shape[a], 1);
    const outSize = size / reduceSize;
    const outShape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : kept.map((i) => x.shape[i]);
    const b = webgpuBackend(args.backend);
    return run(b, program(chainReduceSize(b, reduceSize), mean), [x], [{ shape: outShape }],
      [['u32', outSize], ['u32', reduceSize], ...dims(x.shape, kept), ...dims(x.shape, axes)], pairWorkgroups(b, outSize))[0];
  };
}

/** Replacements for tfjs-webgpu's Sum and Mean, given the kernels they replace. */
export const webgpuSum = (replaced: KernelFn): KernelFn => reduce(false, replaced);
export const webgpuMean = (replaced: KernelFn): KernelFn => reduce(true, replaced);
