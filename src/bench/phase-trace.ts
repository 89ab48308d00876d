/**
 * Which part of a training iteration is running: the stage (named by the optimizer steps done
 * so far, in trainIteration's order) and, within it, the optimizer step, a forward or backward
 * pass of a gradient tape, or untaped work. Tapes are seen through the engine's scopes: tfjs's
 * engine.gradients and train/tape.ts both run the taped function in a scope named 'forward' and
 * the backward pass in one named 'backward', so a nested tape (R1's dD(E(x))/dx, differentiated
 * again) shows as an inner forward or backward inside the outer forward.
 */
import { tf } from '../tf.js';

interface EngineInternals {
  startScope(name?: string): void;
  endScope(result?: unknown): void;
}

type Method = (...args: never[]) => unknown;

export interface PhaseTrace {
  /** The phase now, e.g. 'step 1 (E, D): inner backward' or 'step 2 (F, G): optimizer'. */
  current(): string;
  /** Restore the engine and the optimizers. */
  stop(): void;
}

/**
 * Trace from now until stop(). `stages[k]` names the work after k optimizer steps (the last name
 * also covers any later ones); `optimizers` are the objects whose step() is timed as 'optimizer'.
 */
export function tracePhases(optimizers: ReadonlyArray<{ step: Method }>, stages: readonly string[]): PhaseTrace {
  const engine = tf.engine() as unknown as EngineInternals;
  const restore: Array<() => void> = [];
  const wrap = <T extends object>(o: T, name: keyof T & string, make: (orig: Method) => Method): void => {
    const target = o as unknown as Record<string, Method>;
    const orig = target[name];
    const own = Object.prototype.hasOwnProperty.call(o, name);
    target[name] = make(orig);
    restore.push(() => {
      if (own) target[name] = orig;
      else delete target[name];
    });
  };

  const scopes: Array<string | undefined> = [];
  let stepsDone = 0;
  let inOptimizer = false;
  wrap(engine, 'startScope', (orig) => function (this: unknown, ...a: never[]) {
    scopes.push(a[0]);
    return orig.apply(this, a);
  });
  wrap(engine, 'endScope', (orig) => function (this: unknown, ...a: never[]) {
    scopes.pop();
    return orig.apply(this, a);
  });
  for (const opt of optimizers) {
    wrap(opt, 'step', (orig) => function (this: unknown, ...a: never[]) {
      inOptimizer = true;
      try {
        return orig.apply(this, a);
      } finally {
        inOptimizer = false;
        stepsDone++;
      }
    });
  }

  const taped = (): string => {
    const tape = scopes.filter((s): s is string => s === 'forward' || s === 'backward');
    if (tape.length === 0) return 'untaped';
    return `${'inner '.repeat(tape.length - 1)}${tape[tape.length - 1]}`;
  };
  return {
    current(): string {
      const stage = stages[Math.min(stepsDone, stages.length - 1)];
      const phase = inOptimizer ? 'optimizer' : taped();
      return stage ? `${stage}: ${phase}` : phase;
    },
    stop(): void {
      for (const r of restore.reverse()) r();
      restore.length = 0;
    },
  };
}
