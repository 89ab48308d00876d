/**
 * LREQAdam's step and the averaged-weights lerp over every parameter of a
 * network at once on webgpu (train/param-update.ts): the parameters are
 * copied into flat scratch buffers (buffer copies, not dispatches; Adam's
 * gradient parts each into its own stretch, added in the kernel), free
 * buffers of tfjs's pool where one is large enough (runner.ts pooledScratch), one
 * dispatch updates them all, and copies hand each parameter its new values
 * in a fresh buffer (a tensor's buffer may be shared: the old values stay
 * valid for whoever holds them, as assign() promises). Parameters go in
 * groups of at most GROUP_FLOATS values, so a flat buffer stays within the
 * device's binding limit.
 *
 * The arithmetic is the op chain's, rounding for rounding (products kept
 * apart from the sums they feed, wgsl.ts), so the updates have the bits of
 * the tfjs ops and of the host loops (train/host-update.ts).
 */
import { ADAM_UPDATE, LERP_UPDATE } from '../update-kernels.js';
import type { KernelFn, TensorInfo } from '../kernel-adapter.js';
import { FLAT_PARAMS, type GPUBufferLike, type WebGPUBackendLike, type WgslProgram, bindings, copy, dispatch, flatIndex, flatWorkgroups, outputs, pooledScratch, scratch, webgpuBackend } from './runner.js';
import { KEPT } from './wgsl.js';

const WG = 256;
/** At most this many values a group (256 MiB a flat buffer). */
const GROUP_FLOATS = 1 << 26;

const sizeOf = (t: TensorInfo): number => t.shape.reduce((a, b) => a * b, 1);

/** Consecutive runs of indices whose sizes add up to at most `cap` (a larger size gets a run of its own). */
export function groupsOf(sizes: number[], cap: number): number[][] {
  const out: number[][] = [];
  let run: number[] = [], total = 0;
  sizes.forEach((n, i) => {
    if (run.length > 0 && total + n > cap) {
      out.push(run);
      run = [];
      total = 0;
    }
    run.push(i);
    total += n;
  });
  if (run.length > 0) out.push(run);
  return out;
}

/** The groups of one update: at most GROUP_FLOATS values, and what the device binds. */
const groups = (b: WebGPUBackendLike, sizes: number[]): number[][] =>
  groupsOf(sizes, Math.min(GROUP_FLOATS, Math.floor(b.device.limits.maxStorageBufferBindingSize / 4)));

/** Input tensors named prefix0, prefix1, ..., checked against the first list's shapes. */
function list(kernel: string, inputs: Record<string, TensorInfo | undefined>, prefix: string, count: number, like?: TensorInfo[]): TensorInfo[] {
  return Array.from({ length: count }, (_, i) => {
    const t = inputs[`${prefix}${i}`];
    if (!t || t.dtype !== 'float32') throw new Error(`${kernel}: input ${prefix}${i} must be a float32 tensor`);
    if (like && t.shape.join() !== like[i].shape.join()) throw new Error(`${kernel}: ${prefix}${i} [${t.shape}] does not match [${like[i].shape}]`);
    return t;
  });
}

/**
 * Copy each tensor of `ts` into `flat` back to back, `times[i]` times over (default once);
 * returns where each begins (in values).
 */
function gather(b: WebGPUBackendLike, ts: TensorInfo[], flat: GPUBufferLike, times?: number[]): number[] {
  let off = 0;
  return ts.map((t, i) => {
    const at = off;
    for (let k = 0; k < (times?.[i] ?? 1); k++) {
      copy(b, { tensor: t }, 0, { buffer: flat }, 4 * off, 4 * sizeOf(t));
      off += sizeOf(t);
    }
    return at;
  });
}

/** New tensors shaped as `like`, filled from `flat` at `offsets`. */
function scatter(b: WebGPUBackendLike, like: TensorInfo[], flat: GPUBufferLike, offsets: number[]): TensorInfo[] {
  const out = outputs(b, like.map((t) => ({ shape: t.shape })));
  out.forEach((t, i) => copy(b, { buffer: flat }, 4 * offsets[i], { tensor: t }, 0, 4 * sizeOf(t)));
  return out;
}

/**
 * Submit the commands so far: Adam's flat buffers, pooled activation-sized ones, go back to the
 * pool before the next step's forward pass wants their sizes (pooledScratch). The lerps leave
 * theirs to the next submission: the dispatch trace's peak GPU bytes are lower so.
 */
function handBack(b: WebGPUBackendLike): void {
  b.endComputePassEncoder();
  b.submitQueue();
}

const adam: WgslProgram = {
  name: ADAM_UPDATE,
  key: '',
  code: () => `
// Per parameter: where its values lie in the flat p and v (start, end), its step size, and where
// its gradient's parts lie in the flat g (part j at g + j * (end - start)), how many.
struct Segment { start: u32, end: u32, step: f32, g: u32, parts: u32 }
${bindings(['g', 'segments: array<Segment>'], ['p', 'v'], 'size: u32, count: u32, beta2: f32, omb2: f32, eps: f32, one: f32')}
${KEPT}
@compute @workgroup_size(${WG})
fn main(${FLAT_PARAMS}) {
  let i = ${flatIndex(WG)};
  if (i >= u.size) { return; }
  var lo = 0u;
  var hi = u.count - 1u;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (segments[mid].end <= i) { lo = mid + 1u; } else { hi = mid; }
  }
  let s = segments[lo];
  let n = s.end - s.start;
  let at = s.g + (i - s.start);
  // The parts added left to right, as tf.add(tf.add(g0, g1), g2) rounds.
  var gi = g[at];
  for (var j = 1u; j < s.parts; j++) { gi = gi + g[at + j * n]; }
  let vi = kept(v[i] * u.beta2) + kept((gi * gi) * u.omb2);
  v[i] = vi;
  p[i] = p[i] - kept((gi / (sqrt(vi) + u.eps)) * s.step);
}`,
};

/** Segment's size in bytes (five 4-byte fields). */
const SEGMENT_BYTES = 20;

export const webgpuAdamUpdate: KernelFn = ({ inputs, backend, attrs }) => {
  const b = webgpuBackend(backend);
  const stepSizes = (attrs?.stepSizes ?? []) as number[];
  const partCounts = (attrs?.parts ?? []) as number[];
  const count = stepSizes.length;
  if (partCounts.length !== count || partCounts.some((k) => !(k >= 1))) throw new Error(`${ADAM_UPDATE}: attr parts must give each parameter's count of gradient parts (at least 1)`);
  const ps = list(ADAM_UPDATE, inputs, 'p', count);
  const vs = list(ADAM_UPDATE, inputs, 'v', count, ps);
  const gs = ps.map((p, i) => list(ADAM_UPDATE, inputs, `g${i}_`, partCounts[i], Array<TensorInfo>(partCounts[i]).fill(p)));
  const beta2 = Number(attrs?.beta2), eps = Number(attrs?.eps);
  const newP: TensorInfo[] = [], newV: TensorInfo[] = [];
  // The flat g holds every part: it is the largest buffer of a group.
  for (const idx of groups(b, ps.map((p, i) => sizeOf(p) * partCounts[i]))) {
    const pick = <T>(a: T[]): T[] => idx.map((i) => a[i]);
    const total = idx.reduce((s, i) => s + sizeOf(ps[i]), 0);
    const gTotal = idx.reduce((s, i) => s + sizeOf(ps[i]) * partCounts[i], 0);
    const [P, V, G] = [pooledScratch(b, 4 * total), pooledScratch(b, 4 * total), pooledScratch(b, 4 * gTotal)];
    const offsets = gather(b, pick(ps), P);
    gather(b, pick(vs), V);
    const gOffsets = gather(b, pick(gs).flat(), G);
    const table = new ArrayBuffer(SEGMENT_BYTES * idx.length);
    const view = new DataView(table);
    let part = 0;
    idx.forEach((i, k) => {
      const at = SEGMENT_BYTES * k;
      view.setUint32(at, offsets[k], true);
      view.setUint32(at + 4, offsets[k] + sizeOf(ps[i]), true);
      view.setFloat32(at + 8, stepSizes[i], true);
      view.setUint32(at + 12, gOffsets[part], true);
      view.setUint32(at + 16, partCounts[i], true);
      part += partCounts[i];
    });
    const segments = scratch(b, table.byteLength);
    b.device.queue.writeBuffer(segments, 0, table);
    dispatch(b, adam, [{ buffer: G }, { buffer: segments }, { buffer: P, write: true }, { buffer: V, write: true }],
      [['u32', total], ['u32', idx.length], ['f32', beta2], ['f32', 1 - beta2], ['f32', eps], ['f32', 1]], flatWorkgroups(b, total, WG));
    newP.push(...scatter(b, pick(ps), P, offsets));
    newV.push(...scatter(b, pick(vs), V, offsets));
  }
  handBack(b);
  return [...newP, ...newV];
};

const lerp: WgslProgram = {
  name: LERP_UPDATE,
  key: '',
  code: () => `
${bindings(['t'], ['a'], 'size: u32, rate: f32, one: f32')}
${KEPT}
@compute @workgroup_size(${WG})
fn main(${FLAT_PARAMS}) {
  let i = ${flatIndex(WG)};
  if (i >= u.size) { return; }
  a[i] = a[i] + kept((t[i] - a[i]) * u.rate);
}`,
};

export const webgpuLerpUpdate: KernelFn = ({ inputs, backend, attrs }) => {
  const b = webgpuBackend(backend);
  const count = Object.keys(inputs).filter((k) => k.startsWith('a')).length;
  const as = list(LERP_UPDATE, inputs, 'a', count);
  const ts = list(LERP_UPDATE, inputs, 't', count);
  // A t of a's trailing axes is copied once per leading index: the kernel reads T as A's twin.
  const times = ts.map((t, i) => {
    const lead = as[i].shape.length - t.shape.length;
    if (lead < 0 || t.shape.join() !== as[i].shape.slice(lead).join()) throw new Error(`${LERP_UPDATE}: t${i} [${t.shape}] is not a${i} [${as[i].shape}] nor its trailing axes`);
    return sizeOf(t) === 0 ? 0 : sizeOf(as[i]) / sizeOf(t);
  });
  const out: TensorInfo[] = [];
  for (const idx of groups(b, as.map(sizeOf))) {
    const pick = <T>(x: T[]): T[] => idx.map((i) => x[i]);
    const total = idx.reduce((s, i) => s + sizeOf(as[i]), 0);
    const [A, T] = [pooledScratch(b, 4 * total), pooledScratch(b, 4 * total)];
    const offsets = gather(b, pick(as), A);
    gather(b, pick(ts), T, pick(times));
    dispatch(b, lerp, [{ buffer: T }, { buffer: A, write: true }], [['u32', total], ['f32', Number(attrs?.rate)], ['f32', 1]],
      flatWorkgroups(b, total, WG));
    out.push(...scatter(b, pick(as), A, offsets));
  }
  return out;
};
