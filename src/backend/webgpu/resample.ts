/**
 * The 2x up- and down-sampling of nn/ops.ts on webgpu, each with its scale in
 * the same dispatch: the adjoints (nearest up-sampling times 1/4, the 2x2
 * sum) are one dispatch instead of tfjs's resize or pooling program and a
 * multiply. The values are those of the op chain: the 2x2 average adds the
 * four values in the order tfjs's Pool2DProgram does and divides by 4 (exact),
 * and a scale of 1/4 or 4 is exact.
 */
import { DOWNSAMPLE, UPSAMPLE } from '../../nn/ops.js';
import type { KernelFn } from '../kernel-adapter.js';
import { FLAT_PARAMS, type WgslProgram, bindings, flatIndex, flatWorkgroups, run, webgpuBackend } from './runner.js';

const WG = 256;

/**
 * WGSL of the 2x2 average of four values (the top row's two, then the
 * bottom row's) times `scale`, a WGSL expression: the roundings the
 * convolutions that fold this kernel in (conv-geometry.ts's Resample) repeat.
 */
export const average2x2Wgsl = (v: [string, string, string, string], scale: string): string =>
  `((((0.0 + ${v[0]}) + ${v[1]}) + ${v[2]}) + ${v[3]}) * 0.25 * ${scale}`;

const program = (up: boolean): WgslProgram => ({
  name: up ? UPSAMPLE : DOWNSAMPLE,
  key: '',
  code: () => `
// Output height, width, channels; input height, width; the scale.
${bindings(['x'], ['y'], 'size: u32, h: u32, w: u32, c: u32, inH: u32, inW: u32, scale: f32')}
fn at(n: u32, r: u32, col: u32, ch: u32) -> f32 { return x[((n * u.inH + r) * u.inW + col) * u.c + ch]; }
@compute @workgroup_size(${WG})
fn main(${FLAT_PARAMS}) {
  let i = ${flatIndex(WG)};
  if (i >= u.size) { return; }
  let ch = i % u.c;
  let col = (i / u.c) % u.w;
  let r = (i / (u.c * u.w)) % u.h;
  let n = i / (u.c * u.w * u.h);
  ${up
    ? 'y[i] = at(n, r / 2u, col / 2u, ch) * u.scale;'
    : `let r0 = 2u * r;
  let c0 = 2u * col;
  y[i] = ${average2x2Wgsl(['at(n, r0, c0, ch)', 'at(n, r0, c0 + 1u, ch)', 'at(n, r0 + 1u, c0, ch)', 'at(n, r0 + 1u, c0 + 1u, ch)'], 'u.scale')};`}
}`,
});

function resample(up: boolean): KernelFn {
  const name = up ? UPSAMPLE : DOWNSAMPLE;
  return ({ inputs, backend, attrs }) => {
    const x = inputs.x;
    if (!x || x.shape.length !== 4 || x.dtype !== 'float32') throw new Error(`${name}: expected a float32 NHWC tensor`);
    const [n, h, w, c] = x.shape;
    const out = up ? [n, 2 * h, 2 * w, c] : [n, Math.floor(h / 2), Math.floor(w / 2), c];
    const size = out.reduce((a, b) => a * b, 1);
    const b = webgpuBackend(backend);
    return run(b, program(up), [x], [{ shape: out }],
      [['u32', size], ['u32', out[1]], ['u32', out[2]], ['u32', c], ['u32', h], ['u32', w], ['f32', Number(attrs?.scale ?? 1)]],
      flatWorkgroups(b, size, WG))[0];
  };
}

export const webgpuUpsample = resample(true);
export const webgpuDownsample = resample(false);
