import { beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor } from '../../src/tf.js';
import { tracePhases } from '../../src/bench/phase-trace.js';
import { gradients } from '../../src/train/tape.js';
import { testBackend } from '../setup-backend.js';

beforeAll(testBackend);

describe('phases of a training iteration (bench profile)', () => {
  it('names the stage, the optimizer, and forward and backward passes of outer and inner tapes, then restores what it wrapped', () => {
    const seen: string[] = [];
    // The identity, with a gradient function that says when it runs: in R1's inner backward
    // pass, then again in the outer one (the inner gradient depends on its output).
    const marker = tf.customGrad((x) => ({
      value: tf.mul(x as Tensor, 1),
      gradFunc: (dy) => {
        seen.push(trace.current());
        return dy as Tensor;
      },
    }));
    const opt = {
      step(): void {
        seen.push(trace.current());
      },
    };
    const originalStep = opt.step;
    const engine = tf.engine() as unknown as Record<string, unknown>;
    const trace = tracePhases([opt], ['first', 'second']);
    const w = tf.variable(tf.tensor1d([0.5, -2]), true, 'phase-w');
    const x = tf.tensor1d([3, 1]);
    seen.push(trace.current());
    // The outer tape through train/tape.ts, the inner one through tfjs's own (tf.grad): both name their passes.
    const { value, grads } = gradients(() => {
      seen.push(trace.current());
      const dx = tf.grad((xi: Tensor) => {
        seen.push(trace.current());
        return tf.sum(tf.square(marker(tf.mul(xi, w)) as Tensor));
      })(x);
      return tf.sum(tf.square(dx));
    }, [w]);
    opt.step();
    seen.push(trace.current());
    trace.stop();
    expect(seen).toEqual(['first: untaped', 'first: forward', 'first: inner forward', 'first: inner backward', 'first: backward', 'first: optimizer', 'second: untaped']);
    // d/dw of sum((2 w^2 x)^2) = 16 w^3 x^2
    expect(Array.from(grads[0]!.dataSync())).toEqual([16 * 0.125 * 9, 16 * -8 * 1]);
    expect(Object.prototype.hasOwnProperty.call(engine, 'startScope')).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(engine, 'endScope')).toBe(false);
    expect(opt.step).toBe(originalStep);
    tf.dispose([value, grads[0]!, w, x]);
  });
});
