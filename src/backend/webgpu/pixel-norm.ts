/**
 * pixel_norm on webgpu (nn/ops.ts): x / sqrt(mean(x^2) + eps) over the last
 * axis in one dispatch instead of five tfjs programs, one workgroup a row,
 * adding in the order of tfjs-webgpu's Mean (wgsl.ts): the chain's bits.
 */
import { PIXEL_NORM } from '../../nn/ops.js';
import type { KernelFn } from '../kernel-adapter.js';
import { type WgslProgram, bindings, run, webgpuBackend } from './runner.js';
import { KEPT, PAIR_INDEX, PAIR_PARAMS, chainReduceSize, pairWorkgroups, treeSum } from './wgsl.js';

const program = (wg: number): WgslProgram => ({
  name: PIXEL_NORM,
  key: `${wg}`,
  code: () => `
${bindings(['x'], ['y'], 'rows: u32, m: u32, eps: f32, one: f32')}
${treeSum(wg)}
${KEPT}
@compute @workgroup_size(${wg})
fn main(${PAIR_PARAMS}) {
  let row = ${PAIR_INDEX};
  if (row >= u.rows) { return; }
  let base = row * u.m;
  var acc = 0.0;
  for (var j = t; j < u.m; j += ${wg}u) { acc += kept(x[base + j] * x[base + j]); }
  let r = sqrt(tree(t, acc, u.m) / f32(u.m) + u.eps);
  for (var j = t; j < u.m; j += ${wg}u) { y[base + j] = x[base + j] / r; }
}`,
});

export const webgpuPixelNorm: KernelFn = ({ inputs, backend, attrs }) => {
  const b = webgpuBackend(backend);
  const x = inputs.x;
  if (!x || x.dtype !== 'float32' || x.shape.length === 0) throw new Error(`${PIXEL_NORM}: x must be a float32 tensor`);
  const m = x.shape[x.shape.length - 1];
  const rows = x.shape.reduce((a, c) => a * c, 1) / Math.max(m, 1);
  return run(b, program(chainReduceSize(b, m)), [x], [{ shape: x.shape }], [['u32', rows], ['u32', m], ['f32', Number(attrs?.eps)], ['f32', 1]],
    pairWorkgroups(b, rows))[0];
};
