/**
 * The gradient of leaky_relu(x + bias) on webgpu (biasLeakyTwice in
 * nn/ops.ts) and that gradient's own gradient (R1 differentiates it again).
 * BIAS_LEAKY_GRAD: dx = dy * mask and the bias's gradient db = sum of dx over
 * every axis but the last, in one dispatch instead of a multiply and a sum:
 * one workgroup per channel, the product kept apart from the sum and the sum
 * in tfjs-webgpu's order (wgsl.ts): the bits of the chain's multiply and AlaeSum. BIAS_LEAKY_GRAD_GRAD: the gradient of
 * dy given those of dx and db, (ddx + ddb) * mask, the chain's add then
 * multiply; the mask is a constant of the op.
 */
import { BIAS_LEAKY_GRAD, BIAS_LEAKY_GRAD_GRAD } from '../../nn/ops.js';
import type { KernelFn, TensorInfo } from '../kernel-adapter.js';
import { FLAT_PARAMS, type WgslProgram, bindings, flatIndex, flatWorkgroups, run, webgpuBackend } from './runner.js';
import { KEPT, PAIR_INDEX, PAIR_PARAMS, chainReduceSize, pairWorkgroups, treeSum } from './wgsl.js';

const WG = 256;

const gradProgram = (wg: number): WgslProgram => ({
  name: BIAS_LEAKY_GRAD,
  key: `${wg}`,
  code: () => `
${bindings(['dy', 'mask'], ['dx', 'db'], 'channels: u32, rows: u32, one: f32')}
${treeSum(wg)}
${KEPT}
@compute @workgroup_size(${wg})
fn main(${PAIR_PARAMS}) {
  let c = ${PAIR_INDEX};
  if (c >= u.channels) { return; }
  var acc = 0.0;
  for (var r = t; r < u.rows; r += ${wg}u) {
    let i = r * u.channels + c;
    let v = kept(dy[i] * mask[i]);
    dx[i] = v;
    acc += v;
  }
  let total = tree(t, acc, u.rows);
  if (t == 0u) { db[c] = total; }
}`,
});

const gradGradProgram: WgslProgram = {
  name: BIAS_LEAKY_GRAD_GRAD,
  key: '',
  code: () => `
${bindings(['ddx', 'ddb', 'mask'], ['ddy'], 'size: u32, channels: u32')}
@compute @workgroup_size(${WG})
fn main(${FLAT_PARAMS}) {
  let i = ${flatIndex(WG)};
  if (i >= u.size) { return; }
  ddy[i] = (ddx[i] + ddb[i % u.channels]) * mask[i];
}`,
};

const sizeOf = (t: TensorInfo): number => t.shape.reduce((a, c) => a * c, 1);

function check(name: string, a: TensorInfo | undefined, mask: TensorInfo | undefined): asserts a is TensorInfo {
  if (!a || !mask || a.dtype !== 'float32' || mask.dtype !== 'float32' || a.shape.join() !== mask.shape.join() || a.shape.length === 0) {
    throw new Error(`${name}: takes float32 tensors of one shape with a channel axis last (got [${a?.shape ?? ''}] and [${mask?.shape ?? ''}])`);
  }
}

/** dy, mask [..., C] -> dx [..., C], db [C]. */
export const webgpuBiasLeakyGrad: KernelFn = ({ inputs, backend }) => {
  const b = webgpuBackend(backend);
  const { dy, mask } = inputs;
  check(BIAS_LEAKY_GRAD, dy, mask);
  const channels = dy.shape[dy.shape.length - 1];
  const rows = sizeOf(dy) / channels;
  return run(b, gradProgram(chainReduceSize(b, rows)), [dy, mask!], [{ shape: dy.shape }, { shape: [channels] }],
    [['u32', channels], ['u32', rows], ['f32', 1]], pairWorkgroups(b, channels));
};

/** ddx [..., C], ddb [C], mask [..., C] -> ddy [..., C]. */
export const webgpuBiasLeakyGradGrad: KernelFn = ({ inputs, backend }) => {
  const b = webgpuBackend(backend);
  const { ddx, ddb, mask } = inputs;
  check(BIAS_LEAKY_GRAD_GRAD, ddx, mask);
  const channels = ddx.shape[ddx.shape.length - 1];
  if (!ddb || ddb.dtype !== 'float32' || sizeOf(ddb) !== channels) throw new Error(`${BIAS_LEAKY_GRAD_GRAD}: ddb [${ddb?.shape ?? ''}] must hold one value a channel`);
  const size = sizeOf(ddx);
  return run(b, gradGradProgram, [ddx, ddb, mask!], [{ shape: ddx.shape }], [['u32', size], ['u32', channels]], flatWorkgroups(b, size, WG));
};
