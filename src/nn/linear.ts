/**
 * The linear layers (lreq.Linear: MappingF's and MappingD's blocks, the
 * encoder's and the decoder's style linears): y = x @ W + b, W [in, out],
 * MappingF's with the leaky ReLU after.
 *
 * At inference: tfjs's fused product kernel, bias and activation in it.
 * In training, where a backend registers the two kernels below: LINEAR
 * (x [M, in], w [in, out], bias optional; attrs leaky, hasBias) computes the
 * value in one dispatch (with leaky, the twice-differentiable leaky ReLU's
 * value of ops.ts, its roundings), and its gradient is one LINEAR_GRAD
 * dispatch giving just the gradients the backward pass asks for
 * (wanted-gradients.ts), where tfjs runs a product for x's, one for W's, a
 * sum for the bias's and, with leaky, the leaky ReLU's gradient:
 *   dh = dy * step(y, 0.2) (dy without leaky), dx = dh W^T, dW = x^T dh, db = sum of dh's rows.
 * LINEAR_GRAD's inputs are an array [dy, w (for dx), x (for dW), y (with
 * leaky)], only those its outputs need (attrs dx, dw, db, leaky; outputs in
 * that order): an input it does not read would be asked a gradient of zeros
 * by R1's outer pass. Its own gradient (R1 differentiates D's and the
 * encoder's linears twice) is written in tfjs ops. Where the backend lacks
 * the kernels, the op chain: tfjs's fused product (a registered gradient
 * below), then ops.ts's leakyRelu.
 */
import { tf, type Tensor } from '../tf.js';
import { type Differentiation, hasKernel as has, leakyGrad, leakyRelu } from './ops.js';
import { gradientAskedFor } from './wanted-gradients.js';

export const LINEAR = 'AlaeLinear';
export const LINEAR_GRAD = 'AlaeLinearGrad';

interface LinearAttrs {
  leaky: boolean;
  hasBias: boolean;
}
/** Which gradients a LINEAR_GRAD computes, and whether dy passes the leaky ReLU's mask first. */
export interface LinearGradAttrs {
  dx: boolean;
  dw: boolean;
  db: boolean;
  leaky: boolean;
}

const hasKernels = (): boolean => has(LINEAR) && has(LINEAR_GRAD);

// The gradient of tfjs's fused product kernel as the chain runs it (no activation): the
// product's and the add's, each only where the tape asks for it (tfjs's fused matMul op
// computes all three in a customGrad, where R1's inner gradient needs only the input's).
// tfjs registers none for the kernel itself; its ops reach it through their own customGrad.
if (!tf.getGradient(tf._FusedMatMul)) {
  tf.registerGradient({
    kernelName: tf._FusedMatMul,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const { transposeA, transposeB, activation } = attrs as unknown as tf._FusedMatMulAttrs;
      if (transposeA || transposeB || (activation ?? 'linear') !== 'linear') {
        throw new Error(`${tf._FusedMatMul}: alae's gradient covers linear() only (no transpose, no activation)`);
      }
      const [a, b] = saved;
      return {
        a: () => tf.matMul(dy as Tensor, b, false, true),
        b: () => tf.matMul(a, dy as Tensor, true, false),
        bias: () => tf.sum(dy as Tensor, [0, 1]),
      };
    },
  });
}

/** The gradients `want` asks for, in one LINEAR_GRAD kernel; y (the forward's value) with leaky. */
function linearGrad(dy: Tensor, x: Tensor, w: Tensor, y: Tensor | null, want: Omit<LinearGradAttrs, 'leaky'>): { dx?: Tensor; dw?: Tensor; db?: Tensor } {
  const inputs = [dy, ...(want.dx ? [w] : []), ...(want.dw ? [x] : []), ...(y ? [y] : [])];
  const outs = [tf.engine().runKernel(LINEAR_GRAD, inputs as unknown as tf.NamedTensorMap, { ...want, leaky: y !== null } as unknown as tf.NamedAttrMap) as Tensor | Tensor[]].flat();
  let i = 0;
  return { dx: want.dx ? outs[i++] : undefined, dw: want.dw ? outs[i++] : undefined, db: want.db ? outs[i++] : undefined };
}

if (!tf.getGradient(LINEAR)) {
  tf.registerGradient({
    kernelName: LINEAR,
    inputsToSave: ['x', 'w'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, w, y] = saved;
      const { leaky, hasBias } = attrs as unknown as LinearAttrs;
      const yy = leaky ? y : null;
      const g = linearGrad(dy as Tensor, x, w, yy, { dx: gradientAskedFor('x'), dw: gradientAskedFor('w'), db: hasBias && gradientAskedFor('bias') });
      // A gradient nobody said would be asked for (a caller outside the training tape) gets a kernel of its own.
      return {
        x: () => g.dx ?? linearGrad(dy as Tensor, x, w, yy, { dx: true, dw: false, db: false }).dx!,
        w: () => g.dw ?? linearGrad(dy as Tensor, x, w, yy, { dx: false, dw: true, db: false }).dw!,
        bias: () => g.db ?? linearGrad(dy as Tensor, x, w, yy, { dx: false, dw: false, db: true }).db!,
      };
    },
  });
}

if (!tf.getGradient(LINEAR_GRAD)) {
  tf.registerGradient({
    kernelName: LINEAR_GRAD,
    saveAllInputs: true,
    gradFunc: (dys, saved, attrs) => {
      const a = attrs as unknown as LinearGradAttrs;
      const gs = Array.isArray(dys) ? dys : [dys];
      let i = 0;
      const gX = a.dx ? gs[i++] : null, gW = a.dw ? gs[i++] : null, gB = a.db ? gs[i++] : null;
      let j = 0;
      const dy = saved[j++];
      const w = a.dx ? saved[j++] : null, x = a.dw ? saved[j++] : null, y = a.leaky ? saved[j++] : null;
      // The outputs are linear in dh = dy * m (m the mask, a constant): d/d dh = gX W + x gW + 1 gB.
      const dh = (): Tensor => (y ? leakyGrad(dy, y) : dy);
      const grads: Record<string, () => Tensor> = {
        0: () => tf.tidy(() => {
          const terms = [gX && w ? tf.matMul(gX, w) : null, gW && x ? tf.matMul(x, gW) : null].filter((t): t is Tensor => t !== null);
          let s = terms.length === 2 ? tf.add(terms[0], terms[1]) : terms[0] ?? tf.zerosLike(dy);
          if (gB) s = tf.add(s, gB);
          return y ? leakyGrad(s, y) : s;
        }),
      };
      let k = 1;
      if (a.dx) grads[k++] = () => tf.tidy(() => tf.matMul(gX!, dh(), true, false));
      if (a.dw) grads[k++] = () => tf.tidy(() => tf.matMul(dh(), gW!, false, true));
      if (a.leaky) grads[k++] = () => tf.zerosLike(y!);
      return grads;
    },
  });
}

function runLinear(x: Tensor, w: Tensor, b: Tensor | undefined, leaky: boolean): Tensor {
  return tf.engine().runKernel(LINEAR, (b ? { x, w, bias: b } : { x, w }) as unknown as tf.NamedTensorMap,
    { leaky, hasBias: b !== undefined } as unknown as tf.NamedAttrMap) as Tensor;
}

/** y = x @ W + b, W in [in, out] layout; `d` as in ops.ts (how the caller will differentiate y). */
export function linear(x: Tensor, w: Tensor, b?: Tensor, d: Differentiation = 'none'): Tensor {
  if (d !== 'none' && hasKernels()) return runLinear(x, w, b, false);
  if (!b) return tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D);
  // The bias rides in the product's kernel (batch-1 3D, as tfjs's own op calls it).
  return tf.tidy(() => {
    const a = tf.reshape(x, [1, ...x.shape]), wb = tf.reshape(w, [1, ...w.shape]);
    const y = tf.engine().runKernel(tf._FusedMatMul, { a, b: wb, bias: b } as unknown as tf.NamedTensorMap,
      { transposeA: false, transposeB: false, activation: 'linear' }) as Tensor;
    return tf.reshape(y, [x.shape[0], w.shape[w.rank - 1]]);
  });
}

/** leaky_relu(x @ W + b, 0.2) (MappingF's blocks): at inference tfjs's one fused kernel, in training the twice-differentiable form. */
export function linearLeaky(x: Tensor, w: Tensor, b: Tensor, d: Differentiation = 'none'): Tensor {
  if (d === 'none') return tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: b, activation: 'leakyrelu', leakyreluAlpha: 0.2 });
  if (hasKernels()) return runLinear(x, w, b, true);
  return leakyRelu(linear(x, w), d, b);
}
