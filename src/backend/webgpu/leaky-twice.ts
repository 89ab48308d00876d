/**
 * The forward of the twice-differentiable leaky ReLU on webgpu (leakyTwice in
 * nn/ops.ts): the value 0.2 h + 0.8 relu(h) in one dispatch instead of
 * four tfjs programs, with their roundings (NaN stays NaN); h is x, or
 * x + bias (bias along the last axis, added as tf.add does: one more
 * dispatch saved). The gradient reads its mask off the value
 * (bias-leaky-grad.ts).
 */
import { BIAS_LEAKY_TWICE, LEAKY_TWICE } from '../../nn/ops.js';
import type { KernelFn } from '../kernel-adapter.js';
import { FLAT_PARAMS, type WgslProgram, bindings, flatIndex, flatWorkgroups, run, webgpuBackend } from './runner.js';
import { KEPT } from './wgsl.js';

const WG = 256;

const program = (bias: boolean): WgslProgram => ({
  name: bias ? BIAS_LEAKY_TWICE : LEAKY_TWICE,
  key: '',
  code: () => `
${bindings(bias ? ['x', 'bias'] : ['x'], ['value'], 'size: u32, channels: u32, one: f32')}
${KEPT}
@compute @workgroup_size(${WG})
fn main(${FLAT_PARAMS}) {
  let i = ${flatIndex(WG)};
  if (i >= u.size) { return; }
  let v = x[i]${bias ? ' + bias[i % u.channels]' : ''};
  value[i] = kept(v * 0.2) + kept(select(v, 0.0, v < 0.0) * 0.8);
}`,
});

function leaky(withBias: boolean): KernelFn {
  const name = withBias ? BIAS_LEAKY_TWICE : LEAKY_TWICE;
  return ({ inputs, backend }) => {
    const b = webgpuBackend(backend);
    const { x, bias } = inputs;
    if (!x || x.dtype !== 'float32') throw new Error(`${name}: x must be a float32 tensor`);
    const size = x.shape.reduce((a, c) => a * c, 1);
    const channels = x.shape[x.shape.length - 1] ?? 1;
    if (withBias && (!bias || bias.dtype !== 'float32' || bias.shape.reduce((a, c) => a * c, 1) !== channels)) {
      throw new Error(`${name}: bias [${bias?.shape ?? ''}] does not fit x [${x.shape}] (one value a channel, the last axis)`);
    }
    return run(b, program(withBias), withBias ? [x, bias!] : [x], [{ shape: x.shape }],
      [['u32', size], ['u32', channels], ['f32', 1]], flatWorkgroups(b, size, WG))[0];
  };
}

export const webgpuLeakyTwice = leaky(false);
export const webgpuBiasLeakyTwice = leaky(true);
