/**
 * Splitting a tensor into pieces along an axis, and joining pieces, as many
 * pieces a dispatch as the device binds storage buffers, less the whole (7
 * at the spec's default limit; backend.ts asks for the adapter's), each
 * value copied as it is.
 * tfjs-webgpu's SplitV (tf.split, and the gradient of every tf.concat) runs
 * a slice program per piece; its Concat of more than 7 tensors (the
 * encoder's statistics and stacked style weights, the decoder's side-by-side
 * style weights) one program per that many and one more to join their
 * results. Other dtypes, empty tensors and concats that fit one tfjs
 * program stay tfjs's.
 */
import { tf } from '../../tf.js';
import type { KernelArgs, KernelFn, TensorInfo } from '../kernel-adapter.js';
import { type Binding, FLAT_PARAMS, type WgslProgram, bindings, dispatch, flatIndex, flatWorkgroups, outputs, webgpuBackend } from './runner.js';

const WG = 256;
/** Pieces a dispatch: storage buffers per shader stage, less the whole. */
const maxPieces = (b: ReturnType<typeof webgpuBackend>): number => b.device.limits.maxStorageBuffersPerShaderStage - 1;

/**
 * Pieces 0..k-1, each [outer, s_j, inner], and their run [start, start + span)
 * of the whole [outer, len, inner]: `split` copies the whole's values into
 * the pieces (bindings: whole, then pieces), else the pieces' into the whole
 * (pieces, then whole).
 */
const program = (k: number, split: boolean): WgslProgram => ({
  name: split ? 'AlaeSplit' : 'AlaeConcat',
  key: `${k}`,
  code: () => {
    const pieces = Array.from({ length: k }, (_, j) => `p${j}`);
    const copy = (j: number): string => {
      const piece = `p${j}[(o * u.s${j} + a) * u.inner + r]`;
      return split ? `${piece} = whole[at]` : `whole[at] = ${piece}`;
    };
    let branches = '';
    for (let j = 0; j < k - 1; j++) branches += `  if (a < u.s${j}) { ${copy(j)}; return; }\n  a -= u.s${j};\n`;
    branches += `  ${copy(k - 1)};\n`;
    const sizes = Array.from({ length: k }, (_, j) => `s${j}: u32`).join(', ');
    return `
${bindings(split ? ['whole'] : pieces, split ? pieces : ['whole'], `size: u32, inner: u32, len: u32, start: u32, span: u32, ${sizes}`)}
@compute @workgroup_size(${WG})
fn main(${FLAT_PARAMS}) {
  let i = ${flatIndex(WG)};
  if (i >= u.size) { return; }
  let r = i % u.inner;
  let o = i / (u.inner * u.span);
  var a = (i / u.inner) % u.span;
  let at = (o * u.len + u.start + a) * u.inner + r;
${branches}}`;
  },
});

/** Copies between `whole` and its `pieces` along axis `ax` (split: whole into pieces, else back), a dispatch per maxPieces pieces. */
function copyPieces(b: ReturnType<typeof webgpuBackend>, split: boolean, whole: TensorInfo, pieces: TensorInfo[], ax: number): void {
  const { shape } = whole;
  const outer = shape.slice(0, ax).reduce((p, d) => p * d, 1);
  const inner = shape.slice(ax + 1).reduce((p, d) => p * d, 1);
  const most = maxPieces(b);
  for (let g = 0, start = 0; g < pieces.length; g += most) {
    const group = pieces.slice(g, g + most);
    const sizes = group.map((t) => t.shape[ax]);
    const span = sizes.reduce((p, s) => p + s, 0);
    const size = outer * span * inner;
    const ps: Binding[] = group.map((tensor) => ({ tensor, write: split }));
    const w: Binding = { tensor: whole, write: !split };
    dispatch(b, program(group.length, split), split ? [w, ...ps] : [...ps, w],
      [['u32', size], ['u32', inner], ['u32', shape[ax]], ['u32', start], ['u32', span], ...sizes.map((s): ['u32', number] => ['u32', s])],
      flatWorkgroups(b, size, WG));
    start += span;
  }
}

/** A replacement for tfjs-webgpu's SplitV, given the kernel it replaces. */
export const webgpuSplitV = (replaced: KernelFn): KernelFn => (args) => {
  const x = args.inputs.x as TensorInfo;
  const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number | number[] };
  const ax = tf.util.parseAxisParam(axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
  if (x.dtype !== 'float32' || sizes.some((s) => s === 0) || x.shape.some((d) => d === 0)) return replaced(args);
  const b = webgpuBackend(args.backend);
  const pieces = outputs(b, sizes.map((s) => ({ shape: x.shape.map((d, i) => (i === ax ? s : d)) })));
  copyPieces(b, true, x, pieces, ax);
  return pieces;
};

/** A replacement for tfjs-webgpu's Concat, given the kernel it replaces. */
export const webgpuConcat = (replaced: KernelFn): KernelFn => (args) => {
  const xs = Object.values(args.inputs) as TensorInfo[];
  const { axis } = args.attrs as unknown as { axis: number | number[] };
  const b = webgpuBackend(args.backend);
  if (xs.length <= maxPieces(b) || xs.some((x) => x.dtype !== 'float32' || tf.util.sizeFromShape(x.shape) === 0)) return replaced(args);
  const ax = tf.util.parseAxisParam(axis, xs[0].shape)[0];
  tf.backend_util.assertParamsConsistent(xs.map((x) => x.shape), ax);
  const [y] = outputs(b, [{ shape: tf.backend_util.computeOutShape(xs.map((x) => x.shape), ax) }]);
  copyPieces(b, false, y, xs, ax);
  return y;
};

/**
 * A replacement for tfjs-webgpu's AddN, given the kernel it replaces: tfjs binds every input in
 * one program and fails past the device's limit; here they go maxPieces at a time, each sum
 * carried into the next (acc + x7 + ... is the same left-to-right fold, hence the same bits).
 */
export const webgpuAddN = (replaced: KernelFn): KernelFn => (args) => {
  // tfjs hands AddN its inputs as an array, and its kernel reads them as one.
  const xs = Object.values(args.inputs) as TensorInfo[];
  const most = maxPieces(webgpuBackend(args.backend));
  if (xs.length <= most) return replaced(args);
  const sum = (ts: TensorInfo[]): TensorInfo => replaced({ ...args, inputs: ts as unknown as KernelArgs['inputs'] }) as TensorInfo;
  let acc = sum(xs.slice(0, most));
  for (let i = most; i < xs.length; i += most - 1) {
    const next = sum([acc, ...xs.slice(i, i + most - 1)]);
    (args.backend as tf.KernelBackend).disposeData(acc.dataId);
    acc = next;
  }
  return acc;
};
