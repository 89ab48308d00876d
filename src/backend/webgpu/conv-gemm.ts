/**
 * The tiled implicit GEMM behind the webgpu convolution kernels (conv2d.ts,
 * conv2d-backprop-input.ts, conv2d-backprop-filter.ts): C[m, n] = sum over k
 * of A[m, k] * B[k, n], where a kernel supplies WGSL functions that gather A
 * and B straight from its tensors (no im2col buffer) and store C.
 *
 * Tiling: a workgroup computes a TM x TN block of C, 4 x 4 outputs per
 * thread, stepping through k in TK-wide slices staged in workgroup memory.
 * A third dispatch dimension z carries what the kernel needs beyond one GEMM
 * (the output phase of a strided transposed conv, the k split of the filter
 * gradient); each z has its own k range.
 *
 * Accumulation is float32 (fma) or `exact`: close to the double
 * accumulation of native's Conv2D (native/README.md, "Conv2D precision"),
 * from float32 error-free transformations, since WGSL has no f64:
 * - each operand is split by masking its low 12 mantissa bits, so
 *   a_hi * b_hi is exact; the rest, a_hi*b_lo + a_lo*b (2^-11 of the
 *   product at most), goes to a float32 low-order sum, rounded there to
 *   ~2^-35 of the product (no fma needed: WGSL's may be unfused);
 * - a_hi*b_hi enters a (hi, lo) pair by TwoSum (Knuth). Mesa's NIR folds
 *   (a + b) - a to b in shaders without NoContraction (Tint emits none), and
 *   on lavapipe that turns 1e8 + 1 - 1e8 back into 0, so TwoSum's
 *   intermediates pass through `opq`, an xor with a uniform that is zero
 *   at run time: no compiler can see through it. Contraction into fma
 *   changes nothing (the products it would fuse are exact).
 * The sum is then within ~K * 2^-35 of the sum of |terms| (float32
 * accumulation: ~K * 2^-24), rounded once: the correctly rounded float32
 * result but for outputs that close to a rounding boundary (one ulp off).
 */
import type { TensorInfo } from '../kernel-adapter.js';
import { type Binding, type Uniforms, type WebGPUBackendLike, bindings, dispatch, outputs, workgroupGrid } from './runner.js';

/** The uniforms every program here gets: a zero the compiler cannot know (see `opq` and the loop bounds). */
export const ZERO_UNIFORM: Uniforms = [['u32', 0]];
/** Its field in the uniform struct `u`. */
export const ZERO_FIELD = 'zero: u32,';

export interface GemmSpec {
  /** The program's name (the pipeline's label, which dispatch profiles count by). */
  name: string;
  /** Unique per generated code of that name: every constant baked into the WGSL below. */
  key: string;
  /** Rows and columns of C (rows: the largest over z). */
  M: number;
  N: number;
  /** The most k steps any z takes (the loop count; each z's range comes from `kRange`). */
  kMax: number;
  /** Third dispatch dimension (phases, k splits); 1 for a plain GEMM. */
  Z: number;
  /** Exact accumulation (see the module doc) rather than float32: store then gets the sum as hi + lo, else as hi (lo 0). */
  exact: boolean;
  /** The read bindings' names as the WGSL sees them, in order; the output is `result`. */
  inputs: string[];
  /** The written bindings' names, for a GEMM that stores into several tensors (default: `result`). */
  outputs?: string[];
  /**
   * WGSL defining how A and B are gathered, in two halves so that index
   * arithmetic on rows (columns) is done once per workgroup and on k once
   * per k step, not per element:
   *   fn kRange(z: i32) -> vec2<i32>                      first k, end k
   *   fn aK(k: i32, z: i32) -> vec4<i32>                  what loadA needs of step k
   *   fn aRow(m: i32, z: i32) -> vec4<i32>                ... and of row m
   *   fn loadA(q: vec4<i32>, r: vec4<i32>) -> f32         A[m, k] (0 outside the tensor)
   *   fn bK(k: i32, z: i32) -> vec4<i32>
   *   fn bCol(n: i32, z: i32) -> vec4<i32>
   *   fn loadB(q: vec4<i32>, c: vec4<i32>) -> f32         B[k, n]
   *   fn store(m: i32, n: i32, z: i32, hi: f32, lo: f32)  C[m, n] is hi + lo
   * loadA / loadB are called for m < M, n < N and k in range only, and
   * should not branch (select; a whole workgroup runs them in step); store
   * for m < M, n < N, and may skip rows (a phase with fewer rows).
   */
  code: string;
  /** Stage B with k (rather than n) on neighbouring threads: where B is contiguous along k. */
  bAlongK: boolean;
  /**
   * The z's differ in size (several GEMMs in one dispatch, the grid covering the largest): the
   * spec defines `fn skipTile(m0: i32, n0: i32, z: i32) -> bool`, true for a tile (first row m0,
   * first column n0) that holds nothing of z's, and such a workgroup returns at once.
   */
  skipTiles?: boolean;
  /**
   * Rows come in fours (M a multiple of 4) that one thread holds and stores
   * together, C[4p .. 4p+3, n] as vec4s, by
   *   fn store4(p: i32, n: i32, z: i32, hi: vec4<f32>, lo: vec4<f32>)
   * in place of store: a 2x2 average of fine output pixels (conv-geometry.ts's quadRowsWgsl).
   */
  rowQuads?: boolean;
}

/**
 * Tile sizes: 4 x 4 outputs per thread; TN matched to N (4..64), TM to M,
 * up to 256 threads; TK = TN / 2 (at most 16), so that staging a TK-deep
 * slice of A takes each thread at most 8 loads, and workgroup memory stays
 * under 10 KiB (WebGPU's default limit: 16 KiB).
 */
export function gemmTiles(M: number, N: number): { TM: number; TN: number; TK: number } {
  const pow2 = (v: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, v)));
  const TN = Math.min(64, Math.max(4, pow2(N)));
  const TM = Math.min(Math.max(16, pow2(M)), 4096 / TN);
  const TK = Math.min(16, TN / 2);
  return { TM, TN, TK };
}

/**
 * WGSL of exact accumulation: `opq` (see the module doc), the error of a
 * float32 sum s = a + b by TwoSum, and the high 12 bits of a float.
 */
export const EXACT_WGSL = /* wgsl */ `
fn opq(v: vec4<f32>) -> vec4<f32> { return bitcast<vec4<f32>>(bitcast<vec4<u32>>(v) ^ vec4<u32>(u.zero)); }
fn sumErr(a: vec4<f32>, b: vec4<f32>, s: vec4<f32>) -> vec4<f32> {
  let so = opq(s);
  let bv = so - a;
  let av = so - opq(bv);
  return (a - av) + (b - bv);
}
fn hi12(v: vec4<f32>) -> vec4<f32> { return bitcast<vec4<f32>>(bitcast<vec4<u32>>(v) & vec4<u32>(0xfffff000u)); }
`;

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * Staging of one operand's TK x `rows` slice into workgroup memory, as vec4s
 * of 4 consecutive rows (columns), so that a thread reads its 4 x 4 block as
 * one vec4 of A and one of B per k and writes whole vec4s here. Element
 * e = tid + j * threads of the slice is (kk, quad), kk on neighbouring
 * threads when `alongK`. (kk, quad) and the row half of the gather are
 * fixed per thread: `setup` computes them once, `load` runs per k step.
 */
function staging(op: 'A' | 'B', rows: number, limit: number, TK: number, threads: number, alongK: boolean): { setup: string; load: string } {
  const quads = rows / 4;
  const n = Math.ceil((quads * TK) / threads);
  const [row, kFn, loadFn, origin] = op === 'A' ? ['aRow', 'aK', 'loadA', 'm0'] : ['bCol', 'bK', 'loadB', 'n0'];
  const v = op.toLowerCase();
  // With k along threads and TK dividing the thread count, every j has the same kk: one k half per step.
  const sharedK = alongK && threads % TK === 0;
  // Rows beyond the matrix are gathered at the last row (in bounds) and zeroed: no branches, so no divergence.
  const setup = range(n).map((j) => {
    const e = `(tid + ${j * threads})`;
    const [kk, quad] = alongK ? [`${e} % ${TK}`, `${e} / ${TK}`] : [`${e} / ${quads}`, `${e} % ${quads}`];
    return `let ${v}kk${j} = ${kk}; let ${v}q${j} = ${quad};
  let ${v}on${j} = ${e} < ${quads * TK};
  ${range(4).map((i) => `let ${v}in${j}${i} = ${origin} + ${v}q${j} * 4 + ${i} < ${limit};
  let ${v}row${j}${i} = ${row}(min(${origin} + ${v}q${j} * 4 + ${i}, ${limit - 1}), z);`).join('\n  ')}`;
  }).join('\n  ');
  const kStep = (kk: string): string => `let k = k0 + ${kk}; let kin = k < kr.y; let kq = ${kFn}(min(k, kr.y - 1), z);`;
  const load = (sharedK ? [`{ ${kStep(`${v}kk0`)}`] : ['{']).concat(range(n).map((j) => `if (${v}on${j}) {
      ${sharedK ? '' : kStep(`${v}kk${j}`)}
      ${op}s[${v}kk${j} * ${quads} + ${v}q${j}] = vec4<f32>(${range(4).map((i) => `
        select(0.0, ${loadFn}(kq, ${v}row${j}${i}), kin && ${v}in${j}${i})`).join(',')});
    }`)).concat(['}']).join('\n    ');
  return { setup, load };
}

function gemmCode(s: GemmSpec, TM: number, TN: number, TK: number): string {
  const threadsN = TN / 4;
  const threads = (TM / 4) * threadsN;
  const tilesN = Math.ceil(s.N / TN);
  const tiles = Math.ceil(s.M / TM) * tilesN;
  const kTiles = Math.ceil(s.kMax / TK);
  const unroll = Math.min(4, TK);
  const a = staging('A', TM, s.M, TK, threads, true);
  const b = staging('B', TN, s.N, TK, threads, s.bAlongK);
  const rows = range(4);
  const step = s.exact
    ? `
      let bh = hi12(b); let bl = b - bh;
      let ah = hi12(a); let al = a - ah;
      ${rows.map((i) => `{
        let p = ah[${i}] * bh;
        let t = hi${i} + p;
        lo${i} = lo${i} + (sumErr(hi${i}, p, t) + (ah[${i}] * bl + al[${i}] * b));
        hi${i} = t;
      }`).join('\n      ')}`
    : rows.map((i) => `hi${i} = fma(vec4<f32>(a[${i}]), b, hi${i});`).join('\n      ');
  return `
${bindings(s.inputs, s.outputs ?? ['result'], ZERO_FIELD)}
${EXACT_WGSL}
var<workgroup> As: array<vec4<f32>, ${(TM / 4) * TK}>;
var<workgroup> Bs: array<vec4<f32>, ${(TN / 4) * TK}>;
${s.code}
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tid = i32(lid);
  let tx = tid % ${threadsN};
  let ty = tid / ${threadsN};
  let lin = i32(wid.y * nwg.x + wid.x);
  let tm = lin / ${tilesN};
  let m0 = tm * ${TM};
  let n0 = (lin - tm * ${tilesN}) * ${TN};
  let z = i32(wid.z);
  ${s.skipTiles ? '// Uniform per workgroup (built from its id): the barriers below stay in uniform control flow.\n  if (skipTile(m0, n0, z)) { return; }' : ''}
  let kr = kRange(z);
  ${a.setup}
  ${b.setup}
  ${rows.map((i) => `var hi${i} = vec4<f32>(0.0); var lo${i} = vec4<f32>(0.0);`).join(' ')}
  for (var t = 0; t < ${kTiles} + i32(u.zero); t++) {
    let k0 = kr.x + t * ${TK};
    ${a.load}
    ${b.load}
    workgroupBarrier();
    // Unrolled by hand, ${unroll} k at a time. The loops' bounds go through the uniform zero: a compiler that
    // sees the whole count unrolls it all, and lavapipe then takes seconds per pipeline.
    for (var k4 = 0; k4 < ${TK / unroll} + i32(u.zero); k4++) {
      ${range(unroll).map((u) => `{
      let kk = k4 * ${unroll} + ${u};
      let a = As[kk * ${TM / 4} + ty];
      let b = Bs[kk * ${TN / 4} + tx];
      ${step}
      }`).join('\n      ')}
    }
    workgroupBarrier();
  }
  if (lin < ${tiles}) {
    ${s.rowQuads ? `{
      let m = m0 + ty * 4;
      for (var c = 0; c < 4; c++) {
        let n = n0 + tx * 4 + c;
        if (m < ${s.M} && n < ${s.N}) {
          store4(m / 4, n, z, vec4<f32>(${rows.map((i) => `hi${i}[c]`).join(', ')}), vec4<f32>(${rows.map((i) => `lo${i}[c]`).join(', ')}));
        }
      }
    }` : rows.map((i) => `{
      let m = m0 + ty * 4 + ${i};
      for (var c = 0; c < 4; c++) {
        let n = n0 + tx * 4 + c;
        if (m < ${s.M} && n < ${s.N}) { store(m, n, z, hi${i}[c], lo${i}[c]); }
      }
    }`).join('\n    ')}
  }
}
`;
}

/** Record the GEMM's dispatch: `reads` bound in order (as spec.inputs names them), then `out` (as spec.outputs names them, or `result`). */
export function gemm(b: WebGPUBackendLike, spec: GemmSpec, reads: TensorInfo[], out: Binding | Binding[]): void {
  const { TM, TN, TK } = gemmTiles(spec.M, spec.N);
  const writes = (Array.isArray(out) ? out : [out]).map((o) => ({ ...o, write: true }));
  dispatch(b, {
    name: spec.name,
    key: `${spec.key}_${spec.M}_${spec.N}_${spec.kMax}_${spec.exact ? 'x' : 'f'}${spec.rowQuads ? 'q' : ''}${spec.skipTiles ? 's' : ''}_${TM}_${TN}_${TK}`,
    code: () => gemmCode(spec, TM, TN, TK),
  }, [...reads.map((tensor) => ({ tensor })), ...writes], ZERO_UNIFORM,
  workgroupGrid(b, Math.ceil(spec.M / TM) * Math.ceil(spec.N / TN), spec.Z));
}

/** The GEMM into new tensors of `shapes`, one per spec.outputs (one, `result`, by default). */
export function runGemmInto(b: WebGPUBackendLike, spec: GemmSpec, reads: TensorInfo[], shapes: number[][]): TensorInfo[] {
  const results = outputs(b, shapes.map((shape) => ({ shape })));
  gemm(b, spec, reads, results.map((tensor) => ({ tensor })));
  return results;
}

/** The GEMM into a new tensor of `shape`. */
export function runGemm(b: WebGPUBackendLike, spec: GemmSpec, reads: TensorInfo[], shape: number[]): TensorInfo {
  return runGemmInto(b, spec, reads, [shape])[0];
}
