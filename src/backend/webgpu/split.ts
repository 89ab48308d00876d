/**
 * tfjs-webgpu's SplitV (tf.split, and the gradient of every tf.concat) runs a
 * slice program per piece: a dispatch each. Here one dispatch writes up to
 * MAX_PIECES pieces (a kernel binds at most 8 storage buffers by the spec's
 * default limit: the input and 7 outputs), each value copied as it is.
 * Other dtypes and empty pieces stay tfjs's.
 */
import { tf } from '../../tf.js';
import type { KernelFn, TensorInfo } from '../kernel-adapter.js';
import { FLAT_PARAMS, type WgslProgram, bindings, flatIndex, flatWorkgroups, run, webgpuBackend } from './runner.js';

const WG = 256;
const MAX_PIECES = 7;

/** Pieces 0..k-1 of a run along the split axis, viewed as [outer, len, inner]: this dispatch covers [start, start + sum of sizes). */
const program = (k: number): WgslProgram => ({
  name: 'AlaeSplit',
  key: `${k}`,
  code: () => {
    const outs = Array.from({ length: k }, (_, j) => `y${j}`);
    const sizes = Array.from({ length: k }, (_, j) => `s${j}: u32`).join(', ');
    let branches = '';
    for (let j = 0; j < k - 1; j++) branches += `  if (a < u.s${j}) { y${j}[(o * u.s${j} + a) * u.inner + r] = v; return; }\n  a -= u.s${j};\n`;
    branches += `  y${k - 1}[(o * u.s${k - 1} + a) * u.inner + r] = v;\n`;
    return `
${bindings(['x'], outs, `size: u32, inner: u32, len: u32, start: u32, span: u32, ${sizes}`)}
@compute @workgroup_size(${WG})
fn main(${FLAT_PARAMS}) {
  let i = ${flatIndex(WG)};
  if (i >= u.size) { return; }
  let r = i % u.inner;
  let o = i / (u.inner * u.span);
  var a = (i / u.inner) % u.span;
  let v = x[(o * u.len + u.start + a) * u.inner + r];
${branches}}`;
  },
});

/** A replacement for tfjs-webgpu's SplitV, given the kernel it replaces. */
export const webgpuSplitV = (replaced: KernelFn): KernelFn => (args) => {
  const x = args.inputs.x as TensorInfo;
  const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number | number[] };
  const ax = tf.util.parseAxisParam(axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
  if (x.dtype !== 'float32' || sizes.some((s) => s === 0) || x.shape.some((d) => d === 0)) return replaced(args);
  const b = webgpuBackend(args.backend);
  const outer = x.shape.slice(0, ax).reduce((p, d) => p * d, 1);
  const inner = x.shape.slice(ax + 1).reduce((p, d) => p * d, 1);
  const pieces: TensorInfo[] = [];
  for (let g = 0, start = 0; g < sizes.length; g += MAX_PIECES) {
    const group = sizes.slice(g, g + MAX_PIECES);
    const span = group.reduce((p, s) => p + s, 0);
    const size = outer * span * inner;
    pieces.push(...run(b, program(group.length), [x], group.map((s) => ({ shape: x.shape.map((d, i) => (i === ax ? s : d)) })),
      [['u32', size], ['u32', inner], ['u32', x.shape[ax]], ['u32', start], ['u32', span], ...group.map((s): ['u32', number] => ['u32', s])],
      flatWorkgroups(b, size, WG)));
    start += span;
  }
  return pieces;
};
