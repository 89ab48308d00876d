// The blocked GEMM driver, templated on how A and B are packed and where
// the rows of C live, so one driver serves plain matrices, batched matmul
// and the implicit-im2col convolutions.
//
// The design is BLIS's: B is packed into KC x NR micro-panels, A into
// MR x KC micro-panels, and a register-blocked micro-kernel (simd.h) does the
// arithmetic. The packers are function objects, so convolutions pack straight
// from the image (implicit im2col) and never materialise the column matrix.
//
//   PackA(i0, mc, k0, kc, dst): rows [i0, i0+mc) x depth [k0, k0+kc) of A
//       into ceil(mc/MR) panels of kc*MR floats (dst[k*MR + i]), rows past
//       the matrix zero-filled.
//   PackB(k0, kc, j0, nc, dst): depth [k0, k0+kc) x columns [j0, j0+nc) of B
//       into ceil(nc/NR) panels of kc*NR floats (dst[k*NR + j]), zero-padded.
//   RowPtr(i): pointer to column 0 of row i of C.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "runtime.h"
#include "simd.h"

namespace alae {

// ---- blocking (compile-time; -DALAE_KC=... etc. to experiment) ------------
#ifndef ALAE_KC
#define ALAE_KC 256
#endif
#ifndef ALAE_MC
#define ALAE_MC 144
#endif
#ifndef ALAE_NC
#define ALAE_NC 3072
#endif
constexpr int KC = ALAE_KC;  // depth of one packed block
constexpr int MC = ALAE_MC;  // rows of A packed at once (multiple of MR)
constexpr int NC = ALAE_NC;  // columns of B packed at once (multiple of NR)

// Blocking of the double-accumulation (precise) path used by Conv2D: the
// same MR x NR panel shapes, with double elements. KC_D must divide KC (so a
// K split, made in KC units, lands on KC_D block boundaries) and the float
// staging of an A block (MC_D x KC_D) must fit the float workspace.
#ifndef ALAE_KC_D
#define ALAE_KC_D 256
#endif
#ifndef ALAE_MC_D
#define ALAE_MC_D 144
#endif
#ifndef ALAE_NC_D
#define ALAE_NC_D 256
#endif
constexpr int KC_D = ALAE_KC_D;
constexpr int MC_D = ALAE_MC_D;
constexpr int NC_D = ALAE_NC_D;
static_assert(KC % KC_D == 0, "KC_D must divide KC");
static_assert(MC_D % MR == 0 && NC_D % NR == 0, "MC_D / NC_D must be multiples of MR / NR");
static_assert(MC_D * KC_D <= MC * KC, "an A block of the precise path must fit the float workspace");
static_assert(KC <= kZerosLength && KC_D <= kZerosLength, "zeros() must cover a depth block");

struct Workspace {
  float* a = nullptr;  // MC x KC
  float* b = nullptr;  // KC x NC
};

// Per-thread packing buffers, allocated on first use and kept (gemm.cc).
Workspace& workspace();
// Did this thread's float buffers allocate?
bool workspace_ok();

struct WorkspaceD {
  double* a = nullptr;  // MC_D x KC_D: the A block converted to double
  double* b = nullptr;  // KC_D x NR: one B micro-panel
  double* c = nullptr;  // MC_D x NC_D: partial sums across KC_D blocks
};
WorkspaceD& workspace_d();
// Did this thread's double buffers allocate?
bool workspace_d_ok();

struct Range {
  int m0, m1, n0, n1, k0, k1;
};

template <class PackA, class PackB, class RowPtr>
void gemm_range(const Range& r, const PackA& pack_a, const PackB& pack_b, const RowPtr& row, bool accumulate) {
  Workspace& ws = workspace();
  const Simd& s = simd();
  const MicroKernel kernel = s.kernel;
  const MicroKernel wide = s.kernel_wide;
  for (int jc = r.n0; jc < r.n1; jc += NC) {
    const int nc = std::min(NC, r.n1 - jc);
    for (int pc = r.k0; pc < r.k1; pc += KC) {
      const int kc = std::min(KC, r.k1 - pc);
      const bool acc = accumulate || pc != r.k0;
      pack_b(pc, kc, jc, nc, ws.b);
      for (int ic = r.m0; ic < r.m1; ic += MC) {
        const int mc = std::min(MC, r.m1 - ic);
        pack_a(ic, mc, pc, kc, ws.a);
        for (int jr = 0; jr < nc;) {
          // Two B panels at once where the wide kernel exists.
          const bool two = wide && nc - jr > NR;
          const int nr = std::min(two ? 2 * NR : NR, nc - jr);
          const MicroKernel k = two ? wide : kernel;
          const float* bp = ws.b + static_cast<size_t>(jr) * kc;
          for (int ir = 0; ir < mc; ir += MR) {
            const int mr = std::min(MR, mc - ir);
            float* rows[MR];
            for (int i = 0; i < mr; ++i) rows[i] = row(ic + ir + i) + jc + jr;
            k(kc, ws.a + static_cast<size_t>(ir) * kc, bp, rows, acc, mr, nr);
          }
          jr += two ? 2 * NR : NR;
        }
      }
    }
  }
}

// Which operand's packing is expensive (gathered): splitting the other
// dimension across threads would make every thread repeat it.
enum class Split { M, N };

struct Plan {
  int tm = 1, tn = 1, tk = 1;  // tasks along M, N and K
};

// Tasks are claimed dynamically from an atomic counter, so there are a few
// per thread: a thread slowed down by another process on its core then
// does less of the work instead of holding everyone up. Each task repacks
// the operand of the dimension it does not split, so tasks keep a minimum
// size (48 rows or 128 columns) that bounds that repacking to a few percent.
// Columns are split in units of 2*NR so the wide kernel never gets a lone
// NR panel in the middle of the matrix.
constexpr int kUnitN = 2 * NR;

inline Plan make_plan(int M, int N, int K, int T, Split prefer) {
  Plan p;
  const double flops = 2.0 * M * N * K;
  if (T <= 1 || flops < 2.0e6) return p;
  constexpr int kMinTilesM = 8, kMinUnitsN = 4;  // 48 rows, 128 columns
  const int tiles_m = (M + MR - 1) / MR, units_n = (N + kUnitN - 1) / kUnitN;
  const int want = std::max(T, static_cast<int>(std::min<double>(4.0 * T, flops / 1.0e6)));
  const int max_m = std::max(1, tiles_m / kMinTilesM), max_n = std::max(1, units_n / kMinUnitsN);
  if (prefer == Split::M) {
    p.tm = std::min(want, max_m);
    p.tn = std::min((want + p.tm - 1) / p.tm, max_n);
  } else {
    p.tn = std::min(want, max_n);
    p.tm = std::min((want + p.tn - 1) / p.tn, max_m);
  }
  // Too few output tiles to share but a long reduction: split K instead.
  if (p.tm * p.tn < T && K >= 2 * KC) {
    const int kblocks = K / KC;
    const double mn_bytes = 4.0 * M * N;
    int tk = std::min(kblocks, 4 * T);
    while (tk > T && mn_bytes * (tk - 1) > 64.0 * 1024 * 1024) --tk;  // private sums stay small
    if (tk > p.tm * p.tn) {
      p.tm = p.tn = 1;
      p.tk = tk;
    }
  }
  return p;
}

inline int split_at(int total_tiles, int parts, int idx, int tile, int limit) {
  const int t = static_cast<int>(static_cast<long long>(total_tiles) * idx / parts);
  return std::min(t * tile, limit);
}

// Runs f(r) on each non-empty output block of a plan without a K split (all
// of the depth), on the pool when there is more than one.
template <class F>
void for_blocks(const Plan& p, int M, int N, int K, const F& f) {
  const int tiles_m = (M + MR - 1) / MR, units_n = (N + kUnitN - 1) / kUnitN;
  auto task = [&](int t) {
    const int im = t % p.tm, in = t / p.tm;
    const Range r{split_at(tiles_m, p.tm, im, MR, M), split_at(tiles_m, p.tm, im + 1, MR, M),
                  split_at(units_n, p.tn, in, kUnitN, N), split_at(units_n, p.tn, in + 1, kUnitN, N), 0, K};
    if (r.m0 < r.m1 && r.n0 < r.n1) f(r);
  };
  const int tasks = p.tm * p.tn;
  if (tasks == 1) task(0);
  else parallel_for(tasks, task);
}

// Part t of a K split in tk parts: all rows and columns, a run of whole KC
// blocks of the depth (empty when there are fewer blocks than parts).
inline Range k_part(int M, int N, int K, int tk, int t) {
  const int kblocks = (K + KC - 1) / KC;
  return Range{0, M, 0, N, std::min(K, split_at(kblocks, tk, t, KC, K)), std::min(K, split_at(kblocks, tk, t + 1, KC, K))};
}

// f(i) for every row i < M, rows split over the pool (a K split's parts
// added into C).
template <class F>
void for_rows(int M, const F& f) {
  const int chunks = std::min(M, num_threads());
  parallel_for(chunks, [&](int c) {
    const int i0 = static_cast<int>(static_cast<long long>(M) * c / chunks);
    const int i1 = static_cast<int>(static_cast<long long>(M) * (c + 1) / chunks);
    for (int i = i0; i < i1; ++i) f(i);
  });
}

// C (+)= A*B over the whole M x N x K problem, using the pool.
template <class PackA, class PackB, class RowPtr>
bool gemm(int M, int N, int K, const PackA& pack_a, const PackB& pack_b, const RowPtr& row, bool accumulate,
          Split prefer = Split::M) {
  if (M <= 0 || N <= 0) return true;
  if (K <= 0) {
    if (!accumulate)
      for (int i = 0; i < M; ++i) std::memset(row(i), 0, sizeof(float) * N);
    return true;
  }
  const Plan p = make_plan(M, N, K, num_threads(), prefer);
  if (p.tk == 1) {
    for_blocks(p, M, N, K, [&](const Range& r) { gemm_range(r, pack_a, pack_b, row, accumulate); });
    return true;
  }
  // K split: part 0 goes straight into C, the others into private buffers
  // that are summed into C afterwards.
  const int tk = p.tk;
  const size_t mn = static_cast<size_t>(M) * N;
  Scratch scratch(sizeof(float) * mn * (tk - 1));
  float* buf = scratch.floats();
  if (!buf) return false;
  parallel_for(tk, [&](int t) {
    const Range r = k_part(M, N, K, tk, t);
    if (t == 0) {
      gemm_range(r, pack_a, pack_b, row, accumulate);
    } else {
      float* mine = buf + mn * (t - 1);
      if (r.k0 >= r.k1) {
        std::memset(mine, 0, sizeof(float) * mn);
        return;
      }
      auto prow = [mine, N](int i) { return mine + static_cast<size_t>(i) * N; };
      gemm_range(r, pack_a, pack_b, prow, false);
    }
  });
  for_rows(M, [&](int i) {
    float* ci = row(i);
    for (int t = 1; t < tk; ++t) {
      const float* bi = buf + mn * (t - 1) + static_cast<size_t>(i) * N;
      for (int j = 0; j < N; ++j) ci[j] += bi[j];
    }
  });
  return true;
}

// ---- double accumulation (precise path) ------------------------------------
//
// C = A*B with every dot product accumulated in double and rounded to float
// once. A is packed in float by the usual packers (implicit im2col included)
// and widened per block. Loop order per task: columns (NC_D) -> rows (MC_D)
// -> depth (KC_D), so a block of rows keeps its partial sums in a per-thread
// double scratch over the whole depth range and the last depth block rounds
// straight into C. B is packed (and widened) one kc x NR micro-panel at a
// time, right before the MC_D rows use it: it is read from the source once
// per row block, not held in a (twice as large) double copy.
//
//   PackBD(k0, kc, j0, dst): depth [k0, k0+kc) x columns [j0, j0+NR) of B
//       into dst[k*NR + j] as doubles, zero past the last column.

// B is a row-major K x N float matrix (ldb = N): the filter of Conv2D.
struct PackBMatrixD {
  const float* b;
  int N;
  void operator()(int k0, int kc, int j0, double* __restrict dst) const {
    const int cols = std::max(0, std::min(NR, N - j0));
    const float* src = b + static_cast<size_t>(k0) * N + j0;
    if (cols == NR) {
      for (int k = 0; k < kc; ++k, src += N, dst += NR)
        for (int j = 0; j < NR; ++j) dst[j] = src[j];
    } else {
      for (int k = 0; k < kc; ++k, src += N, dst += NR) {
        int j = 0;
        for (; j < cols; ++j) dst[j] = src[j];
        for (; j < NR; ++j) dst[j] = 0.0;
      }
    }
  }
};

// One task: rows [m0,m1) x columns [n0,n1) x depth [k0,k1). With out_d null
// the result is rounded into row(i); otherwise it is a double partial sum
// written to out_d (row stride ldd).
template <class PackA, class PackBD, class RowPtr>
void gemm_range_d(const Range& r, const PackA& pack_a, const PackBD& pack_b, const RowPtr& row, double* out_d,
                  size_t ldd) {
  Workspace& wf = workspace();
  WorkspaceD& ws = workspace_d();
  const MicroKernelD kernel = simd().kernel_d;
  for (int jc = r.n0; jc < r.n1; jc += NC_D) {
    const int nc = std::min(NC_D, r.n1 - jc);
    for (int ic = r.m0; ic < r.m1; ic += MC_D) {
      const int mc = std::min(MC_D, r.m1 - ic);
      const int mpad = (mc + MR - 1) / MR * MR;
      for (int pc = r.k0; pc < r.k1; pc += KC_D) {
        const int kc = std::min(KC_D, r.k1 - pc);
        const bool first = pc == r.k0, last = pc + kc >= r.k1;
        pack_a(ic, mc, pc, kc, wf.a);
        {
          const float* __restrict src = wf.a;
          double* __restrict dst = ws.a;
          const size_t n = static_cast<size_t>(mpad) * kc;
          for (size_t q = 0; q < n; ++q) dst[q] = src[q];
        }
        for (int jr = 0; jr < nc; jr += NR) {
          const int nr = std::min(NR, nc - jr);
          pack_b(pc, kc, jc + jr, ws.b);
          for (int ir = 0; ir < mc; ir += MR) {
            const int mr = std::min(MR, mc - ir);
            double* drows[MR];
            float* frows[MR];
            for (int i = 0; i < mr; ++i) {
              drows[i] = out_d ? out_d + static_cast<size_t>(ic + ir + i) * ldd + jc + jr
                               : ws.c + static_cast<size_t>(ir + i) * NC_D + jr;
              frows[i] = out_d ? nullptr : row(ic + ir + i) + jc + jr;
            }
            kernel(kc, ws.a + static_cast<size_t>(ir) * kc, ws.b, drows, last && !out_d ? frows : nullptr, first, mr, nr);
          }
        }
      }
    }
  }
}

// C = A*B (no accumulate) over the whole problem with double accumulation,
// using the pool.
template <class PackA, class PackBD, class RowPtr>
bool gemm_d(int M, int N, int K, const PackA& pack_a, const PackBD& pack_b, const RowPtr& row, Split prefer = Split::M) {
  if (M <= 0 || N <= 0) return true;
  if (K <= 0) {
    for (int i = 0; i < M; ++i) std::memset(row(i), 0, sizeof(float) * N);
    return true;
  }
  if (!workspace_d_ok()) return false;  // the caller's (it takes part in every region)
  const Plan p = make_plan(M, N, K, num_threads(), prefer);
  std::atomic<bool> ok{true};
  if (p.tk == 1) {
    for_blocks(p, M, N, K, [&](const Range& r) {
      if (workspace_d_ok()) gemm_range_d(r, pack_a, pack_b, row, static_cast<double*>(nullptr), 0);
      else ok.store(false);
    });
    return ok.load();
  }
  // K split: every part sums into a private double buffer; the parts are
  // added in double and rounded once.
  int tk = p.tk;
  const size_t mn = static_cast<size_t>(M) * N;
  while (tk > 2 && 8.0 * mn * tk > 128.0 * 1024 * 1024) --tk;
  Scratch scratch(sizeof(double) * mn * tk);
  double* buf = scratch.doubles();
  if (!buf) return false;
  parallel_for(tk, [&](int t) {
    const Range r = k_part(M, N, K, tk, t);
    double* mine = buf + mn * t;
    if (r.k0 >= r.k1 || !workspace_d_ok()) {
      if (r.k0 < r.k1) ok.store(false);
      std::memset(mine, 0, sizeof(double) * mn);
      return;
    }
    gemm_range_d(r, pack_a, pack_b, row, mine, static_cast<size_t>(N));
  });
  for_rows(M, [&](int i) {
    float* ci = row(i);
    for (int j = 0; j < N; ++j) {
      double sum = 0;
      for (int t = 0; t < tk; ++t) sum += buf[mn * t + static_cast<size_t>(i) * N + j];
      ci[j] = static_cast<float>(sum);
    }
  });
  return ok.load();
}

// ---- plain packers ---------------------------------------------------------

// Panels of R lines (A: MR rows; B: NR columns) of a plain matrix m with
// leading dimension ld and `lines` lines: lines [l0, l0+nl) x depth
// [k0, k0+kc) into dst[k*R + r], lines past the matrix zero-filled. Where a
// line runs along the stored rows (A as given, B transposed) the SIMD packer
// interleaves R of them; otherwise a depth step's R lines are contiguous.
template <int R>
struct PackLines {
  const float* m;
  int ld, lines;
  bool interleave;
  void operator()(int l0, int nl, int k0, int kc, float* dst) const {
    const int lend = std::min(lines, l0 + nl);
    const Interleave il = R == MR ? simd().interleave6 : simd().interleave16;
    for (int p = l0; p < l0 + nl; p += R, dst += static_cast<size_t>(kc) * R) {
      const int n = std::max(0, std::min(R, lend - p));
      if (interleave) {
        const float* src[R];
        for (int r = 0; r < R; ++r) src[r] = r < n ? m + static_cast<size_t>(p + r) * ld + k0 : zeros();
        il(src, kc, dst);
      } else if (n == R) {
        for (int k = 0; k < kc; ++k) std::memcpy(dst + k * R, m + static_cast<size_t>(k0 + k) * ld + p, sizeof(float) * R);
      } else {
        for (int k = 0; k < kc; ++k) {
          const float* s = m + static_cast<size_t>(k0 + k) * ld + p;
          float* d = dst + k * R;
          int r = 0;
          for (; r < n; ++r) d[r] = s[r];
          for (; r < R; ++r) d[r] = 0.f;
        }
      }
    }
  }
};

// A is M x K (lda) or, transposed, stored K x M.
struct PackAMatrix {
  PackLines<MR> rows;
  PackAMatrix(const float* a, int lda, int M, bool trans) : rows{a, lda, M, !trans} {}
  void operator()(int i0, int mc, int k0, int kc, float* dst) const { rows(i0, mc, k0, kc, dst); }
};

// B is K x N (ldb) or, transposed, stored N x K.
struct PackBMatrix {
  PackLines<NR> cols;
  PackBMatrix(const float* b, int ldb, int N, bool trans) : cols{b, ldb, N, trans} {}
  void operator()(int k0, int kc, int j0, int nc, float* dst) const { cols(j0, nc, k0, kc, dst); }
};

}  // namespace alae
