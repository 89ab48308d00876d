/**
 * Which inputs of a node the backward pass will ask a gradient of. tfjs's
 * gradient functions return one thunk per input and learn only afterwards
 * which thunks are called; a kernel that computes several input gradients
 * in one dispatch (linear.ts) needs to know before it runs. The training
 * tape (train/tape.ts) says it around each node's gradient function;
 * anywhere else (tfjs's own tf.grad) nothing is said and every input counts
 * as asked for.
 */
let asked: ReadonlySet<string> | null = null;

/** Run a node's gradient function knowing that only `names` will be asked for. */
export function askingGradientsOf<T>(names: readonly string[], f: () => T): T {
  const outer = asked;
  asked = new Set(names);
  try {
    return f();
  } finally {
    asked = outer;
  }
}

/** Will the running gradient function be asked for input `name`'s gradient (true when nobody said)? */
export function gradientAskedFor(name: string): boolean {
  return asked === null || asked.has(name);
}
