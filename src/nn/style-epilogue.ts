/**
 * The generator's layer epilogue (DecodeBlock of net.py, after each conv):
 *
 *   h = leaky_relu(x + noise_weight * noise + bias, 0.2)
 *   out = instance_norm(h, eps 1e-8) * (style[:, :C] + 1) + style[:, C:]
 *
 * where `style` is the block's style linear output [N, 2C]. As tfjs ops this
 * is ~12 activation-sized kernels forward and ~25 backward, each a full pass
 * over memory (and a dispatch on a GPU); a backend that registers
 * STYLE_EPILOGUE and its gradient (backend/kernel-adapter.ts) runs it as one
 * forward and one backward kernel. The fused forward repeats the chain's
 * float32 roundings (same bits up to the order of a sum); its gradient is
 * written out (instance-norm backward in closed form) and is differentiable
 * once, which is all the generator needs: only E and D are differentiated
 * twice (R1).
 *
 * After conv_1, DecodeBlock blurs first (option blurFirst): the _BLUR
 * kernels read blur(x) on the fly and write their dx blurred (the blur is
 * its own adjoint), saving the blur's dispatches forward and backward.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { type Differentiation, blur, leakyRelu, statsAndNorm, styleMod } from './ops.js';

/**
 * Kernel names a backend may register. STYLE_EPILOGUE takes x, noise,
 * noiseWeight, bias and style (attrs eps, twice) and returns the output,
 * then what its gradient needs (the backend's choice); STYLE_EPILOGUE_GRAD
 * takes dy, style, noise and those as saved0, saved1, ... and returns dx,
 * dnoiseWeight [C], dbias [C] and dstyle [N, 2C]. STYLE_EPILOGUE_BLUR and
 * STYLE_EPILOGUE_BLUR_GRAD are the same for blur(x) (ops.ts's blur) in
 * place of x: the gradient's dx is then x's.
 */
export const STYLE_EPILOGUE = 'AlaeStyleEpilogue';
export const STYLE_EPILOGUE_GRAD = 'AlaeStyleEpilogueGrad';
export const STYLE_EPILOGUE_BLUR = 'AlaeStyleEpilogueBlur';
export const STYLE_EPILOGUE_BLUR_GRAD = 'AlaeStyleEpilogueBlurGrad';
/** Instance norm epsilon of the generator (nn.InstanceNorm2d's default is 1e-5; net.py passes 1e-8). */
export const STYLE_EPILOGUE_EPS = 1e-8;

export interface EpilogueOptions {
  /** Blur x first (ops.ts's blur; DecodeBlock's after conv_1). Default false. */
  blurFirst?: boolean;
}

/** The forward and gradient kernels of the epilogue `opts` asks for. */
const kernelsOf = (opts: EpilogueOptions): [string, string] =>
  opts.blurFirst ? [STYLE_EPILOGUE_BLUR, STYLE_EPILOGUE_BLUR_GRAD] : [STYLE_EPILOGUE, STYLE_EPILOGUE_GRAD];

/** The op chain: the definition, and the path of backends without the kernels. */
export function styleEpilogueChain(x: Tensor4D, noiseWeight: Tensor, noise: Tensor4D, bias: Tensor, style: Tensor, d: Differentiation = 'none',
  opts: EpilogueOptions = {}): Tensor4D {
  return tf.tidy(() => {
    let h = tf.add(opts.blurFirst ? blur(x, d) : x, tf.mul(noiseWeight, noise)) as Tensor4D;
    h = leakyRelu(tf.add(h, bias), d) as Tensor4D;
    return styleMod(statsAndNorm(h, STYLE_EPILOGUE_EPS).normed, style);
  });
}

/** Does the active backend run the epilogue (with the blur first, where asked) as one kernel? */
export function styleEpilogueFused(opts: EpilogueOptions = {}): boolean {
  const backend = tf.getBackend();
  return kernelsOf(opts).every((k) => tf.getKernel(k, backend) !== undefined);
}

function runKernel(name: string, inputs: Record<string, Tensor>, attrs: Record<string, number> = {}): Tensor[] {
  const out = tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs) as Tensor | Tensor[];
  return Array.isArray(out) ? out : [out];
}

/**
 * The epilogue, fused where the backend has the kernels (see the module
 * doc). `d` picks the leaky ReLU's rounding, as the chain's leakyRelu does
 * (the twice-differentiable form's 0.2x + 0.8relu(x) differs in the last bit).
 */
export function styleEpilogue(x: Tensor4D, noiseWeight: Tensor, noise: Tensor4D, bias: Tensor, style: Tensor, d: Differentiation = 'none',
  opts: EpilogueOptions = {}): Tensor4D {
  // A backend with the epilogue's kernels but not the blurred ones: the blur op, then the kernels.
  if (opts.blurFirst && !styleEpilogueFused(opts) && styleEpilogueFused()) {
    return tf.tidy(() => styleEpilogue(blur(x, d), noiseWeight, noise, bias, style, d));
  }
  if (!styleEpilogueFused(opts)) return styleEpilogueChain(x, noiseWeight, noise, bias, style, d, opts);
  // The first block's input is the learned constant, batch 1, under a batch of styles.
  const n = style.shape[0];
  if (x.shape[0] !== n) {
    return tf.tidy(() => styleEpilogue(tf.broadcastTo(x, [n, x.shape[1], x.shape[2], x.shape[3]]), noiseWeight, noise, bias, style, d, opts));
  }
  const [forward, grad] = kernelsOf(opts);
  const attrs = { eps: STYLE_EPILOGUE_EPS, twice: d === 'none' ? 0 : 1 };
  // The noise is a constant of the op (never trained), so it is closed over rather than an input with a gradient.
  const op = tf.customGrad((xi, nwi, bi, si, save) => {
    const [out, ...state] = runKernel(forward, { x: xi as Tensor, noise, noiseWeight: nwi as Tensor, bias: bi as Tensor, style: si as Tensor }, attrs);
    (save as tf.GradSaveFunc)([si as Tensor, ...state]);
    return {
      value: out,
      gradFunc: (dy, saved) => {
        const [s, ...kept] = saved;
        const inputs: Record<string, Tensor> = { dy: dy as Tensor, style: s, noise };
        kept.forEach((t, i) => (inputs[`saved${i}`] = t));
        const [dx, dnw, db, dstyle] = runKernel(grad, inputs);
        return [dx, tf.reshape(dnw, noiseWeight.shape), tf.reshape(db, bias.shape), dstyle];
      },
    };
  });
  return op(x, noiseWeight, bias, style) as Tensor4D;
}
