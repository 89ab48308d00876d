/**
 * Latent codes as plain arrays (no tensors, nothing to dispose): w rows
 * [count, size] and per-slot styles [count, slots, size], with the pure
 * operations of the jobs (style mixing, interpolation in W, edits).
 */
import { AlaeError } from '../errors.js';

/** w vectors, one row per face or sample: row i is data[i*size .. (i+1)*size). */
export interface Latents {
  kind: 'w';
  count: number;
  size: number;
  data: Float32Array;
}

/** Styles, one w per generator style slot: [count, slots, size], row-major. */
export interface Styles {
  kind: 'styles';
  count: number;
  slots: number;
  size: number;
  data: Float32Array;
}

export type StyleLevel = 'coarse' | 'middle' | 'fine';
/** The named levels, coarse to fine. */
export const STYLE_LEVEL_NAMES: readonly StyleLevel[] = ['coarse', 'middle', 'fine'];
/** A named level, or a slot range [from, to) (to may be Infinity). */
export type LevelSpec = StyleLevel | readonly [number, number];

/**
 * The named levels of a model with `slots` style slots (two per resolution):
 * the one definition of the package. From 64x64 up (10+ slots), the slot
 * ranges of the reference's style-mixing figure (style_mixing/stylemix.py):
 * coarse = 4x4-8x8 (slots 0-3), middle = 16x16-32x32 (4-7), fine = 64x64 and
 * up (8+). Below that the reference's split would leave no fine level (a
 * 32x32 model has 8 slots), so the same idea goes by resolution: the last
 * resolution is fine, the one before it middle, the rest coarse (32x32:
 * coarse 4x4-8x8 = slots 0-3, middle 16x16 = 4-5, fine 32x32 = 6-7; 16x16:
 * one resolution each). Models of 8x8 and below have coarse only. Ranges
 * are [from, to).
 */
export function levelRanges(slots: number): Partial<Record<StyleLevel, [number, number]>> {
  if (!Number.isInteger(slots) || slots < 1) throw new AlaeError(`a model has at least one style slot (got ${slots})`);
  if (slots >= 10) return { coarse: [0, 4], middle: [4, 8], fine: [8, slots] };
  if (slots < 6) return { coarse: [0, slots] };
  return { coarse: [0, slots - 4], middle: [slots - 4, slots - 2], fine: [slots - 2, slots] };
}

/** The levels a model with `slots` style slots has, coarse to fine, with their slot ranges. */
export function styleLevels(slots: number): { name: StyleLevel; from: number; to: number }[] {
  const r = levelRanges(slots);
  return STYLE_LEVEL_NAMES.flatMap((name) => {
    const range = r[name];
    return range ? [{ name, from: range[0], to: range[1] }] : [];
  });
}

/** Latents from rows (arrays of numbers) or a flat array with the row size. */
export function makeLatents(rows: readonly (readonly number[] | Float32Array)[]): Latents;
export function makeLatents(data: Float32Array, size: number): Latents;
export function makeLatents(x: readonly (readonly number[] | Float32Array)[] | Float32Array, size?: number): Latents {
  if (x instanceof Float32Array) {
    if (!size || !Number.isInteger(size) || size <= 0 || x.length % size !== 0) throw new AlaeError(`latents: ${x.length} values do not make rows of ${size}`);
    return { kind: 'w', count: x.length / size, size, data: x };
  }
  if (x.length === 0) throw new AlaeError('latents: no rows');
  const n = x[0].length;
  if (x.some((r) => r.length !== n)) throw new AlaeError('latents: rows differ in length');
  const data = new Float32Array(x.length * n);
  x.forEach((r, i) => data.set(r, i * n));
  return { kind: 'w', count: x.length, size: n, data };
}

/** Row i of w (a Float32Array view) . */
export function rowOf(w: Latents, i: number): Float32Array {
  if (!Number.isInteger(i) || i < 0 || i >= w.count) throw new AlaeError(`latents: row ${i} out of range (0..${w.count - 1})`);
  return w.data.subarray(i * w.size, (i + 1) * w.size);
}

/** The rows `indices` of w, as new Latents. */
export function selectRows(w: Latents, indices: readonly number[]): Latents {
  const data = new Float32Array(indices.length * w.size);
  indices.forEach((i, k) => data.set(rowOf(w, i), k * w.size));
  return { kind: 'w', count: indices.length, size: w.size, data };
}

/** Rows of several Latents, in order. */
export function concatLatents(list: readonly Latents[]): Latents {
  if (list.length === 0) throw new AlaeError('latents: nothing to concatenate');
  const size = list[0].size;
  if (list.some((l) => l.size !== size)) throw new AlaeError('latents: sizes differ');
  const count = list.reduce((s, l) => s + l.count, 0);
  const data = new Float32Array(count * size);
  let off = 0;
  for (const l of list) {
    data.set(l.data, off);
    off += l.data.length;
  }
  return { kind: 'w', count, size, data };
}

/** w in every style slot (what the reference feeds the generator after encoding). */
export function broadcastStyles(w: Latents, slots: number): Styles {
  const data = new Float32Array(w.count * slots * w.size);
  for (let i = 0; i < w.count; i++) {
    const r = rowOf(w, i);
    for (let s = 0; s < slots; s++) data.set(r, (i * slots + s) * w.size);
  }
  return { kind: 'styles', count: w.count, slots, size: w.size, data };
}

/** Styles of either form (w is broadcast). */
export function asStyles(x: Latents | Styles, slots: number): Styles {
  if (x.kind === 'w') return broadcastStyles(x, slots);
  if (x.slots !== slots) throw new AlaeError(`styles have ${x.slots} slots, the model has ${slots}`);
  return x;
}

/** A level (named, see levelRanges, or [from, to) clipped to `slots`) as a slot range. */
export function levelRange(level: LevelSpec, slots: number): [number, number] {
  if (typeof level === 'string') {
    if (!STYLE_LEVEL_NAMES.includes(level)) throw new AlaeError(`unknown style level '${String(level)}' (coarse, middle, fine or [from, to))`);
    const named = levelRanges(slots)[level];
    if (!named) throw new AlaeError(`a model with ${slots} style slots has no ${level} level (it has: ${styleLevels(slots).map((l) => l.name).join(', ')})`);
    return named;
  }
  const r = level;
  const from = Math.max(0, r[0]);
  const to = Math.min(slots, r[1]);
  if (!(Number.isInteger(from) && from < to)) throw new AlaeError(`style slots [${r[0]}, ${r[1]}) select nothing of the model's ${slots} slots`);
  return [from, to];
}

/**
 * Parse a level given as text: coarse | middle | fine | <from>-<to>, the
 * range end exclusive like the API's [from, to) (e.g. 0-4 is coarse).
 */
export function parseLevel(text: string): LevelSpec {
  if ((STYLE_LEVEL_NAMES as readonly string[]).includes(text)) return text as StyleLevel;
  const m = /^(\d+)-(\d+)$/.exec(text);
  if (!m) throw new AlaeError(`bad style level '${text}': use coarse, middle, fine or <from>-<to> (slots from..to-1)`);
  const r: [number, number] = [Number(m[1]), Number(m[2])];
  if (!(r[0] < r[1])) throw new AlaeError(`bad style level '${text}': the range is empty`);
  return r;
}

/**
 * Style mixing: the target's styles with the source's in the slots of
 * `level` (as stylemix.py: style = dst; style[:, r] = src[:, r]). Counts
 * must match, or one side has a single row that is used for every row.
 */
export function mixStyles(target: Latents | Styles, source: Latents | Styles, level: LevelSpec, slots: number): Styles {
  const t = asStyles(target, slots);
  const s = asStyles(source, slots);
  if (t.size !== s.size) throw new AlaeError(`latent sizes differ (${t.size} vs ${s.size})`);
  if (t.count !== s.count && t.count !== 1 && s.count !== 1) throw new AlaeError(`cannot mix ${t.count} targets with ${s.count} sources (counts must match, or one must be 1)`);
  const [from, to] = levelRange(level, slots);
  const count = Math.max(t.count, s.count);
  const per = slots * t.size;
  const data = new Float32Array(count * per);
  for (let i = 0; i < count; i++) {
    const ti = t.count === 1 ? 0 : i;
    const si = s.count === 1 ? 0 : i;
    data.set(t.data.subarray(ti * per, (ti + 1) * per), i * per);
    data.set(s.data.subarray(si * per + from * t.size, si * per + to * t.size), i * per + from * t.size);
  }
  return { kind: 'styles', count, slots, size: t.size, data };
}

/** `steps` points on the line from a to b in W (both one row), endpoints included. */
export function interpolateLatents(a: Latents, b: Latents, steps: number): Latents {
  if (a.count !== 1 || b.count !== 1) throw new AlaeError(`interpolation takes one w at each end (got ${a.count} and ${b.count})`);
  if (a.size !== b.size) throw new AlaeError(`latent sizes differ (${a.size} vs ${b.size})`);
  if (!Number.isInteger(steps) || steps < 2) throw new AlaeError(`steps must be an integer >= 2 (got ${steps})`);
  const data = new Float32Array(steps * a.size);
  for (let k = 0; k < steps; k++) {
    const t = k / (steps - 1);
    for (let j = 0; j < a.size; j++) {
      // Exact endpoints (a + (b - a) * 1 can differ from b in float rounding).
      data[k * a.size + j] = k === 0 ? a.data[j] : k === steps - 1 ? b.data[j] : a.data[j] + (b.data[j] - a.data[j]) * t;
    }
  }
  return { kind: 'w', count: steps, size: a.size, data };
}

/** Every row moved along `direction` (a w-space vector) by `amount`: w + amount * direction. */
export function editLatents(w: Latents, direction: Float32Array, amount: number): Latents {
  if (direction.length !== w.size) throw new AlaeError(`the direction has ${direction.length} values, w has ${w.size}`);
  if (!Number.isFinite(amount)) throw new AlaeError(`amount must be a finite number (got ${amount})`);
  const data = new Float32Array(w.data.length);
  for (let i = 0; i < w.count; i++) for (let j = 0; j < w.size; j++) data[i * w.size + j] = w.data[i * w.size + j] + amount * direction[j];
  return { kind: 'w', count: w.count, size: w.size, data };
}
