/**
 * Reverse-mode gradients as tfjs computes them (engine.gradients and tape.ts of tfjs-core 4.22:
 * the same filtered tape, the same gradient kernels in the same order, the same accumulation,
 * hence the same bits), but releasing memory while the backward pass runs instead of at its
 * end. tfjs keeps every node's saved tensors, every intermediate gradient and every partial
 * gradient until the whole backward pass is over; here
 * - the gradient of a tensor is disposed once its producer has passed it on,
 * - a partial gradient once it is added to the running sum,
 * - a node's scratch tensors (zeros for unused outputs, a customGrad's intermediates) with the node,
 * - on the outermost tape only, a node's saved tensors once its gradient has run, and those of
 *   nodes off the path from the variables to the loss before the pass starts. An inner tape
 *   (R1's dD/dx, itself differentiated again) keeps its saved tensors: the outer pass needs them.
 * On the outermost tape, gradientParts leaves each parameter's gradient as the parts tfjs would
 * have added one by one (a conv weight R1 uses in its inner forward and inner backward gets two):
 * the optimizer adds them inside its update (grad-parts.ts).
 * It reads the engine's tape (Engine.state.activeTape), which tfjs exposes only internally, and
 * tells each gradient function which of its inputs it will ask for (nn/wanted-gradients.ts).
 */
import { tf, type Tensor } from '../tf.js';
import type { GradParts } from './grad-parts.js';
import { askingGradientsOf } from '../nn/wanted-gradients.js';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, Tensor>;
  outputs: Tensor[];
  gradient?: (dys: Array<Tensor | null>) => Record<string, () => Tensor>;
  saved?: Tensor[];
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
}

const engine = (): EngineInternals => tf.engine() as unknown as EngineInternals;

/** The nodes on a path from xs to y, in tape order, their inputs pruned to those that depend on xs (tfjs's getFilteredNodesXToY). */
function nodesFromXsToY(tape: TapeNode[], xs: Tensor[], y: Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      const inputs = Object.values(node.inputs);
      for (const t of inputs) toY.add(t.id);
      if (inputs.length) nodesToY.add(node.id);
    }
  }
  const filtered: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, Tensor> = {};
    for (const name in node.inputs) if (fromX.has(node.inputs[name].id)) inputs[name] = node.inputs[name];
    filtered.push({ ...node, inputs });
  }
  return filtered;
}

/**
 * Gradient sums by tensor id, each one tensor, or for the ids asked for as parts the tensors in
 * the order they arrived (grad-parts.ts), summed by whoever reads them. A gradient function may
 * hand dy through unchanged, so one tensor can be held by two ids, or twice by one: it is
 * disposed when the last holder lets go of it.
 */
class GradientSums {
  private readonly byId = new Map<number, Tensor[]>();
  private readonly holders = new Map<Tensor, number>();
  constructor(private readonly partIds: ReadonlySet<number>) {}
  /** The sum of an id held as one tensor. */
  get(id: number): Tensor | undefined {
    const ts = this.byId.get(id);
    if (ts && ts.length > 1) throw new Error(`internal: the gradient of tensor ${id} is kept in parts`);
    return ts?.[0];
  }
  parts(id: number): Tensor[] | undefined {
    return this.byId.get(id)?.slice();
  }
  set(id: number, t: Tensor): void {
    this.drop(id);
    this.byId.set(id, [t]);
    this.hold(t);
  }
  /** Add dx to id's gradient: as one more part where the id is kept in parts, else by tf.add as tfjs does. */
  accumulate(id: number, dx: Tensor): void {
    const cur = this.byId.get(id);
    if (!cur) this.set(id, dx);
    else if (this.partIds.has(id)) {
      cur.push(dx);
      this.hold(dx);
    } else {
      this.set(id, tf.add(cur[0], dx));
      if (!this.held(dx)) dx.dispose();
    }
  }
  drop(id: number): void {
    const ts = this.byId.get(id);
    if (!ts) return;
    this.byId.delete(id);
    for (const t of ts) {
      const n = this.holders.get(t)! - 1;
      if (n > 0) this.holders.set(t, n);
      else {
        this.holders.delete(t);
        t.dispose();
      }
    }
  }
  held(t: Tensor): boolean {
    return this.holders.has(t);
  }
  private hold(t: Tensor): void {
    this.holders.set(t, (this.holders.get(t) ?? 0) + 1);
  }
}

function backprop(sums: GradientSums, tape: TapeNode[], keep: Set<number>, releaseSaved: boolean): void {
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    const dys = node.outputs.map((o) => sums.get(o.id) ?? null);
    if (!node.gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
    const names = Object.keys(node.inputs);
    // tfjs calls node.gradient then each input's thunk, in this order: the same kernels run here.
    const dxs = tf.tidy(() => {
      const thunks = askingGradientsOf(names, () => node.gradient!(dys));
      return names.map((name) => {
        if (!(name in thunks)) throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(thunks)}.`);
        return tf.tidy(() => thunks[name]());
      });
    });
    names.forEach((name, k) => {
      const dx = dxs[k];
      const x = node.inputs[name];
      if (dx.dtype !== 'float32') throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`);
      if (!tf.util.arraysEqual(dx.shape, x.shape)) throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`);
      sums.accumulate(x.id, dx);
    });
    for (const o of node.outputs) if (!keep.has(o.id)) sums.drop(o.id);
    if (releaseSaved) for (const t of node.saved ?? []) t.dispose();
  }
}

/** The backward pass: each x's gradient as one tensor, or with `asParts` the parts of the xs that no node outputs. */
function run(f: () => Tensor, xs: Tensor[], asParts: boolean): { value: Tensor; grads: Array<Tensor[] | null> } {
  const e = engine();
  const value = e.scopedRun(() => e.startTape(), () => e.endTape(), () => tf.tidy('forward', f));
  const tape = e.state.activeTape!;
  const outermost = e.state.gradientDepth === 0;
  const filtered = nodesFromXsToY(tape, xs, value);
  const out = tf.tidy('backward', () => {
    if (outermost) {
      const used = new Set(filtered.map((n) => n.id));
      for (const node of tape) if (!used.has(node.id)) for (const t of node.saved ?? []) t.dispose();
    }
    // An x that some node outputs passes its gradient on as a dy (one tensor); the others are leaves.
    const outputs = new Set(filtered.flatMap((n) => n.outputs.map((o) => o.id)));
    const sums = new GradientSums(new Set(asParts ? xs.map((x) => x.id).filter((id) => !outputs.has(id)) : []));
    sums.set(value.id, tf.ones(value.shape)); // as tfjs seeds it (no kernel)
    const keep = new Set(xs.map((x) => x.id));
    backprop(sums, filtered, keep, outermost);
    const grads: Record<number, Tensor[]> = {};
    xs.forEach((x, i) => {
      const g = sums.parts(x.id);
      if (g) grads[i] = g;
    });
    if (outermost) {
      for (const node of tape) for (const t of node.saved ?? []) t.dispose();
      e.state.activeTape = null;
    }
    return { value, grads };
  });
  return { value: out.value, grads: xs.map((_, i) => out.grads[i] ?? null) };
}

/**
 * d f() / d xs, with f's value: tf.grad / tf.variableGrads without their argument handling.
 * A null gradient: that x does not reach the value.
 */
export function gradients(f: () => Tensor, xs: Tensor[]): { value: Tensor; grads: Array<Tensor | null> } {
  const { value, grads } = run(f, xs, false);
  return { value, grads: grads.map((g) => g?.[0] ?? null) };
}

/**
 * gradients() of an outermost tape (parameters), each gradient as the parts the backward pass
 * would have added (grad-parts.ts): the optimizer sums them in its update.
 */
export function gradientParts(f: () => Tensor, xs: Tensor[]): { value: Tensor; grads: Array<GradParts | null> } {
  if (engine().state.gradientDepth !== 0) throw new Error('gradientParts: only an outermost tape keeps its gradients in parts (an inner one is differentiated again)');
  return run(f, xs, true);
}
