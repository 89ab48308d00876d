/**
 * The forward of the twice-differentiable leaky ReLU on webgpu (leakyTwice in
 * nn/ops.ts): the value 0.2 x + 0.8 relu(x) and the gradient mask
 * step(x, 0.2) in one dispatch instead of five tfjs programs, with their
 * roundings (NaN stays NaN in both).
 */
import { LEAKY_TWICE } from '../../nn/ops.js';
import type { KernelFn } from '../kernel-adapter.js';
import { FLAT_PARAMS, type WgslProgram, flatIndex, flatWorkgroups, run, webgpuBackend } from './runner.js';
import { KEPT } from './wgsl.js';

const WG = 256;

const program: WgslProgram = {
  name: LEAKY_TWICE,
  key: '',
  code: () => `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> value: array<f32>;
@group(0) @binding(2) var<storage, read_write> mask: array<f32>;
struct U { size: u32, one: f32 }
@group(0) @binding(3) var<uniform> u: U;
${KEPT}
fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
@compute @workgroup_size(${WG})
fn main(${FLAT_PARAMS}) {
  let i = ${flatIndex(WG)};
  if (i >= u.size) { return; }
  let v = x[i];
  value[i] = kept(v * 0.2) + kept(select(v, 0.0, v < 0.0) * 0.8);
  mask[i] = select(select(0.2, 1.0, v > 0.0), v, isNan(v));
}`,
};

export const webgpuLeakyTwice: KernelFn = ({ inputs, backend }) => {
  const b = webgpuBackend(backend);
  const x = inputs.x!;
  if (x.dtype !== 'float32') throw new Error(`${LEAKY_TWICE}: x must be a float32 tensor`);
  const size = x.shape.reduce((a, c) => a * c, 1);
  return run(b, program, [x], [{ shape: x.shape }, { shape: x.shape }], [['u32', size], ['f32', 1]], flatWorkgroups(b, size, WG));
};
