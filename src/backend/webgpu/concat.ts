/**
 * tfjs-webgpu's Concat of more than 7 tensors (the encoder's statistics and
 * stacked style weights, the decoder's side-by-side style weights) runs one
 * program per 7 inputs and one more to join their results. Here each
 * dispatch copies up to 7 inputs into their place in the one output (a
 * kernel binds at most 8 storage buffers by the spec's default limit): 8
 * inputs take 2 dispatches, not 3. Fewer inputs, other dtypes and empty
 * tensors stay tfjs's.
 */
import { tf } from '../../tf.js';
import type { KernelFn, TensorInfo } from '../kernel-adapter.js';
import { FLAT_PARAMS, type WgslProgram, bindings, dispatch, flatIndex, flatWorkgroups, outputs, webgpuBackend } from './runner.js';

const WG = 256;
const MAX_INPUTS = 7;

/** Inputs 0..k-1 along the axis, viewed as [outer, s_j, inner], into the output's [outer, len, inner] from `start`. */
const program = (k: number): WgslProgram => ({
  name: 'AlaeConcat',
  key: `${k}`,
  code: () => {
    const ins = Array.from({ length: k }, (_, j) => `x${j}`);
    const sizes = Array.from({ length: k }, (_, j) => `s${j}: u32`).join(', ');
    let branches = '';
    for (let j = 0; j < k - 1; j++) branches += `  if (a < u.s${j}) { y[dst] = x${j}[(o * u.s${j} + a) * u.inner + r]; return; }\n  a -= u.s${j};\n`;
    branches += `  y[dst] = x${k - 1}[(o * u.s${k - 1} + a) * u.inner + r];\n`;
    return `
${bindings(ins, ['y'], `size: u32, inner: u32, len: u32, start: u32, span: u32, ${sizes}`)}
@compute @workgroup_size(${WG})
fn main(${FLAT_PARAMS}) {
  let i = ${flatIndex(WG)};
  if (i >= u.size) { return; }
  let r = i % u.inner;
  let o = i / (u.inner * u.span);
  var a = (i / u.inner) % u.span;
  let dst = (o * u.len + u.start + a) * u.inner + r;
${branches}}`;
  },
});

/** A replacement for tfjs-webgpu's Concat, given the kernel it replaces. */
export const webgpuConcat = (replaced: KernelFn): KernelFn => (args) => {
  const xs = Object.values(args.inputs) as TensorInfo[];
  const { axis } = args.attrs as unknown as { axis: number | number[] };
  if (xs.length <= MAX_INPUTS || xs.some((x) => x.dtype !== 'float32' || tf.util.sizeFromShape(x.shape) === 0)) return replaced(args);
  const ax = tf.util.parseAxisParam(axis, xs[0].shape)[0];
  tf.backend_util.assertParamsConsistent(xs.map((x) => x.shape), ax);
  const shape = tf.backend_util.computeOutShape(xs.map((x) => x.shape), ax);
  const b = webgpuBackend(args.backend);
  const outer = shape.slice(0, ax).reduce((p, d) => p * d, 1);
  const inner = shape.slice(ax + 1).reduce((p, d) => p * d, 1);
  const [y] = outputs(b, [{ shape }]);
  for (let g = 0, start = 0; g < xs.length; g += MAX_INPUTS) {
    const group = xs.slice(g, g + MAX_INPUTS);
    const sizes = group.map((x) => x.shape[ax]);
    const span = sizes.reduce((p, s) => p + s, 0);
    const size = outer * span * inner;
    dispatch(b, program(group.length), [...group.map((tensor) => ({ tensor })), { tensor: y, write: true }],
      [['u32', size], ['u32', inner], ['u32', shape[ax]], ['u32', start], ['u32', span], ...sizes.map((s): ['u32', number] => ['u32', s])],
      flatWorkgroups(b, size, WG));
    start += span;
  }
  return y;
};
