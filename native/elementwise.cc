// Elementwise, reduction and data-movement kernels for the native backend.
//
// tfjs's cpu backend runs these as generic JS loops (broadcasting through
// per-element index arithmetic, reductions through a transpose), which
// dominated the model once the convolutions were native. Here:
//
// - Binary arithmetic (add, sub, mul, div) with numpy broadcasting: the
//   shapes are collapsed to the fewest dimensions (size-1 dimensions dropped,
//   neighbours with the same broadcast pattern merged), so the common cases
//   become an outer loop over rows and a contiguous inner loop where each
//   operand is either a vector or a scalar (x - mean[N,1,1,C]: rows of C;
//   noise_weight[C] * noise[N,H,W,1]: vector * scalar per pixel). The same
//   loops give the comparisons (bool outputs); select is a plain map.
// - Unary maps (square, sqrt, rsqrt, neg, relu, leaky relu, step, reciprocal).
// - Sum / mean over any set of axes, accumulated in double (as tfjs's cpu
//   backend does with JS numbers) and rounded once. The shapes collapse to
//   [K1, R, K2] (reduce a middle block: NHWC axes [1,2]; a leading block:
//   bias gradients; the last block: K2 = 1); anything else runs a general
//   serial loop. Work is split in chunks of a fixed size, so the result does
//   not depend on the thread count.
// - A strided copy (slice, split, concat, pad, transpose).
// - Depthwise convolution at stride 1 (the blur) as a sum of shifted taps,
//   which also gives its input gradient; its filter gradient; average
//   pooling without padding and, for non-overlapping windows, its gradient.
//
// Float semantics follow the cpu kernels: an arithmetic op on two float32
// values rounded to float32 is what JS computes in double and stores into a
// Float32Array (the double rounding is innocuous for + - * / and sqrt).
// Nothing here uses FMA contraction.
#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common.h"
#include "napi_args.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off", "no-trapping-math")
#endif

// Loops whose float <-> double conversions make them compute-bound get an
// AVX2 clone, picked at load time (GCC / clang on x86-64 Linux; elsewhere the
// baseline build). AVX2 without FMA: no contraction, the same results.
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__)) && !defined(ALAE_NO_CLONES)
#define ALAE_EW_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ALAE_EW_CLONES
#endif

namespace alae {
namespace {

constexpr int kMaxRank = 8;
constexpr int64_t kChunk = 32768;         // elements per task
constexpr int64_t kParallelMin = 65536;   // smaller tensors run on the calling thread

// Runs f(i0, i1) over [0, n) items, each costing about `cost` elements of
// work, in tasks of at least kChunk elements, on the pool when large.
template <class F>
void run_chunks(int64_t n, int64_t cost, F&& f) {
  if (n <= 0) return;
  if (cost < 1) cost = 1;
  const int64_t total = n * cost;
  int64_t tasks = 1;
  if (total >= kParallelMin && num_threads() > 1) {
    tasks = total / kChunk;
    const int64_t cap = int64_t{num_threads()} * 16;
    if (tasks > cap) tasks = cap;
    if (tasks > n) tasks = n;
  }
  if (tasks <= 1) {
    f(int64_t{0}, n);
    return;
  }
  parallel_for(int(tasks), [&](int t) {
    const int64_t i0 = n * t / tasks, i1 = n * (t + 1) / tasks;
    if (i1 > i0) f(i0, i1);
  });
}

// ---- binary ---------------------------------------------------------------

enum BinOp { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3 };

struct Add { using T = float; static inline float f(float a, float b) { return a + b; } };
struct Sub { using T = float; static inline float f(float a, float b) { return a - b; } };
struct Mul { using T = float; static inline float f(float a, float b) { return a * b; } };
struct Div { using T = float; static inline float f(float a, float b) { return a / b; } };

// Comparisons produce tfjs bool tensors (Uint8Array of 0 / 1); NaN compares
// false (not-equal: true), as in JS.
enum CmpOp { kGreater = 0, kGreaterEqual = 1, kLess = 2, kLessEqual = 3, kEqual = 4, kNotEqual = 5 };
struct Gt { using T = uint8_t; static inline uint8_t f(float a, float b) { return a > b; } };
struct Ge { using T = uint8_t; static inline uint8_t f(float a, float b) { return a >= b; } };
struct Lt { using T = uint8_t; static inline uint8_t f(float a, float b) { return a < b; } };
struct Le { using T = uint8_t; static inline uint8_t f(float a, float b) { return a <= b; } };
struct Eq { using T = uint8_t; static inline uint8_t f(float a, float b) { return a == b; } };
struct Ne { using T = uint8_t; static inline uint8_t f(float a, float b) { return a != b; } };

// One collapsed dimension of a broadcast: extent and each operand's element
// stride (0 where it broadcasts). The output is contiguous.
struct BDim {
  int64_t n, sa, sb;
};

template <class Op>
void binary_rows(const float* a, const float* b, typename Op::T* out, const BDim* d, int nd, int64_t r0, int64_t r1) {
  const BDim in = d[nd - 1];
  const int64_t n = in.n;
  int64_t idx[kMaxRank] = {};
  int64_t oa = 0, ob = 0;
  {
    int64_t r = r0;
    for (int k = nd - 2; k >= 0; --k) {
      idx[k] = r % d[k].n;
      r /= d[k].n;
      oa += idx[k] * d[k].sa;
      ob += idx[k] * d[k].sb;
    }
  }
  for (int64_t r = r0; r < r1; ++r) {
    const float* __restrict pa = a + oa;
    const float* __restrict pb = b + ob;
    typename Op::T* __restrict po = out + r * n;
    if (in.sa == 1 && in.sb == 1) {
      for (int64_t i = 0; i < n; ++i) po[i] = Op::f(pa[i], pb[i]);
    } else if (in.sa == 1) {
      const float s = pb[0];
      for (int64_t i = 0; i < n; ++i) po[i] = Op::f(pa[i], s);
    } else if (in.sb == 1) {
      const float s = pa[0];
      for (int64_t i = 0; i < n; ++i) po[i] = Op::f(s, pb[i]);
    } else {
      po[0] = Op::f(pa[0], pb[0]);  // only when n == 1
    }
    for (int k = nd - 2; k >= 0; --k) {
      oa += d[k].sa;
      ob += d[k].sb;
      if (++idx[k] < d[k].n) break;
      oa -= idx[k] * d[k].sa;
      ob -= idx[k] * d[k].sb;
      idx[k] = 0;
    }
  }
}

template <class Op>
void binary_run(const float* a, const float* b, typename Op::T* out, const BDim* d, int nd) {
  if (nd == 0) {
    out[0] = Op::f(a[0], b[0]);
    return;
  }
  int64_t rows = 1;
  for (int k = 0; k < nd - 1; ++k) rows *= d[k].n;
  run_chunks(rows, d[nd - 1].n, [&](int64_t r0, int64_t r1) { binary_rows<Op>(a, b, out, d, nd, r0, r1); });
}

// Collapses a broadcast; false when the shapes do not broadcast. The output
// shape is written to oshape (rank max(ra, rb)).
bool collapse_broadcast(const int32_t* as, int ra, const int32_t* bs, int rb, int32_t* oshape, BDim* d, int* nd,
                        int64_t* osize) {
  const int r = ra > rb ? ra : rb;
  int64_t A[kMaxRank], B[kMaxRank], O[kMaxRank], SA[kMaxRank], SB[kMaxRank];
  for (int i = 0; i < r; ++i) {
    const int ia = i - (r - ra), ib = i - (r - rb);
    A[i] = ia >= 0 ? as[ia] : 1;
    B[i] = ib >= 0 ? bs[ib] : 1;
    if (A[i] < 0 || B[i] < 0) return false;
    if (A[i] != B[i] && A[i] != 1 && B[i] != 1) return false;
    O[i] = A[i] == 1 ? B[i] : A[i];
    oshape[i] = int32_t(O[i]);
  }
  int64_t sa = 1, sb = 1, total = 1;
  for (int i = r - 1; i >= 0; --i) {
    SA[i] = A[i] == 1 ? 0 : sa;
    SB[i] = B[i] == 1 ? 0 : sb;
    sa *= A[i];
    sb *= B[i];
    total *= O[i];
  }
  *osize = total;
  int n = 0;
  for (int i = 0; i < r; ++i) {
    if (O[i] == 1) continue;
    if (n > 0) {
      BDim& p = d[n - 1];
      // Merge into the previous (outer) dimension when it continues it.
      if (p.sa == SA[i] * O[i] && p.sb == SB[i] * O[i]) {
        p.n *= O[i];
        p.sa = SA[i];
        p.sb = SB[i];
        continue;
      }
    }
    d[n++] = BDim{O[i], SA[i], SB[i]};
  }
  *nd = n;
  return true;
}

// ---- unary ----------------------------------------------------------------

enum UnOp { kSquare = 0, kSqrt = 1, kRsqrt = 2, kNeg = 3, kRelu = 4, kLeakyRelu = 5, kStep = 6, kReciprocal = 7 };

ALAE_EW_CLONES void unary_range(int op, const float* __restrict x, float* __restrict y, int64_t n, double alpha) {
  switch (op) {
    case kSquare:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] * x[i];
      break;
    case kSqrt:
      for (int64_t i = 0; i < n; ++i) y[i] = std::sqrt(x[i]);
      break;
    case kRsqrt:
      for (int64_t i = 0; i < n; ++i) y[i] = float(1.0 / std::sqrt(double(x[i])));
      break;
    case kNeg:
      for (int64_t i = 0; i < n; ++i) y[i] = -x[i];
      break;
    case kRelu:  // Math.max(0, x): NaN stays NaN, -0 becomes 0
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        y[i] = v > 0.0f ? v : (v != v ? v : 0.0f);
      }
      break;
    case kLeakyRelu:  // x < 0 ? alpha * x : x, the product in double (alpha is a JS number)
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        const float l = float(alpha * double(v));
        y[i] = v < 0.0f ? l : v;
      }
      break;
    case kStep: {
      const float a = float(alpha);
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        y[i] = v != v ? v : (v > 0.0f ? 1.0f : a);
      }
      break;
    }
    case kReciprocal:
      for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / x[i];
      break;
  }
}

// ---- reductions -----------------------------------------------------------

// The value a reduction adds: x (sum) or float32(x / n) (mean, as tfjs's
// cpu Mean divides first, then sums). When n is a power of two the division
// is a multiplication by the exact reciprocal (the same result).
struct Elem {
  int mode;  // 0: x, 1: x * inv, 2: x / div
  float inv, div;
  inline double operator()(float v) const {
    if (mode == 0) return double(v);
    if (mode == 1) return double(v * inv);
    return double(v / div);
  }
};

// acc[j] += e(x[j]) for j < n
template <int M>
inline void acc_row(double* __restrict acc, const float* __restrict x, int64_t n, float inv, float div) {
  for (int64_t j = 0; j < n; ++j) {
    const float v = M == 0 ? x[j] : (M == 1 ? x[j] * inv : x[j] / div);
    acc[j] += double(v);
  }
}

inline void acc_row(double* acc, const float* x, int64_t n, const Elem& e) {
  if (e.mode == 0) acc_row<0>(acc, x, n, e.inv, e.div);
  else if (e.mode == 1) acc_row<1>(acc, x, n, e.inv, e.div);
  else acc_row<2>(acc, x, n, e.inv, e.div);
}

// sum_j e(x[j]) over a contiguous run, with 8 partial sums.
template <int M>
inline double sum_run(const float* __restrict x, int64_t n, float inv, float div) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) {
      const float v = M == 0 ? x[j + k] : (M == 1 ? x[j + k] * inv : x[j + k] / div);
      s[k] += double(v);
    }
  double t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; j < n; ++j) {
    const float v = M == 0 ? x[j] : (M == 1 ? x[j] * inv : x[j] / div);
    t += double(v);
  }
  return t;
}

inline double sum_run(const float* x, int64_t n, const Elem& e) {
  if (e.mode == 0) return sum_run<0>(x, n, e.inv, e.div);
  if (e.mode == 1) return sum_run<1>(x, n, e.inv, e.div);
  return sum_run<2>(x, n, e.inv, e.div);
}

// out[k1, k2] = sum_r e(x[k1, r, k2]); x is [K1, R, K2].
void reduce_krk(const float* x, float* out, int64_t K1, int64_t R, int64_t K2, const Elem& e) {
  if (K2 == 1) {
    // Contiguous runs: chunk each run so the sum of a long run is split too.
    const int64_t nch = (R + kChunk - 1) / kChunk;
    if (nch <= 1) {
      run_chunks(K1, R, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) out[i] = float(sum_run(x + i * R, R, e));
      });
      return;
    }
    std::vector<double> part(static_cast<size_t>(K1 * nch));
    run_chunks(K1 * nch, kChunk, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t k = i / nch, c = i % nch;
        const int64_t r0 = c * kChunk, r1 = r0 + kChunk < R ? r0 + kChunk : R;
        part[size_t(i)] = sum_run(x + k * R + r0, r1 - r0, e);
      }
    });
    for (int64_t k = 0; k < K1; ++k) {
      double s = 0;
      for (int64_t c = 0; c < nch; ++c) s += part[size_t(k * nch + c)];
      out[k] = float(s);
    }
    return;
  }
  constexpr int64_t kWide = 2048;
  if (K2 >= kWide) {
    // Wide rows: split the columns; each task sums its block over all r.
    const int64_t nb = (K2 + kWide - 1) / kWide;
    run_chunks(K1 * nb, R * kWide, [&](int64_t i0, int64_t i1) {
      std::vector<double> acc(static_cast<size_t>(kWide));
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t k = i / nb, c0 = (i % nb) * kWide;
        const int64_t w = c0 + kWide < K2 ? kWide : K2 - c0;
        std::fill(acc.begin(), acc.begin() + w, 0.0);
        const float* base = x + k * R * K2 + c0;
        for (int64_t r = 0; r < R; ++r) acc_row(acc.data(), base + r * K2, w, e);
        for (int64_t j = 0; j < w; ++j) out[k * K2 + c0 + j] = float(acc[size_t(j)]);
      }
    });
    return;
  }
  // Narrow rows (NHWC channels): chunks of rows, each into its own partial
  // sums, added in chunk order.
  int64_t rows = kChunk / K2;
  if (rows < 1) rows = 1;
  const int64_t nch = (R + rows - 1) / rows;
  std::vector<double> part(static_cast<size_t>(K1 * nch * K2), 0.0);
  run_chunks(K1 * nch, rows * K2, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t k = i / nch, c = i % nch;
      const int64_t r0 = c * rows, r1 = r0 + rows < R ? r0 + rows : R;
      double* acc = part.data() + i * K2;
      const float* base = x + (k * R + r0) * K2;
      for (int64_t r = r0; r < r1; ++r, base += K2) acc_row(acc, base, K2, e);
    }
  });
  run_chunks(K1, nch * K2, [&](int64_t k0, int64_t k1) {
    std::vector<double> acc(static_cast<size_t>(K2));
    for (int64_t k = k0; k < k1; ++k) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t c = 0; c < nch; ++c) {
        const double* p = part.data() + (k * nch + c) * K2;
        for (int64_t j = 0; j < K2; ++j) acc[size_t(j)] += p[j];
      }
      for (int64_t j = 0; j < K2; ++j) out[k * K2 + j] = float(acc[size_t(j)]);
    }
  });
}

// Any pattern of kept / reduced dimensions (collapsed, alternating): one
// serial pass over x in order.
void reduce_general(const float* x, float* out, const int64_t* n, const bool* red, int nd, int64_t osize, const Elem& e) {
  std::vector<double> acc(static_cast<size_t>(osize), 0.0);
  int64_t ostride[kMaxRank];
  {
    int64_t s = 1;
    for (int k = nd - 1; k >= 0; --k) {
      ostride[k] = red[k] ? 0 : s;
      if (!red[k]) s *= n[k];
    }
  }
  const int64_t inner = n[nd - 1];
  int64_t rows = 1;
  for (int k = 0; k < nd - 1; ++k) rows *= n[k];
  int64_t idx[kMaxRank] = {};
  int64_t o = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* px = x + r * inner;
    if (red[nd - 1]) acc[size_t(o)] += sum_run(px, inner, e);
    else acc_row(acc.data() + o, px, inner, e);
    for (int k = nd - 2; k >= 0; --k) {
      o += ostride[k];
      if (++idx[k] < n[k]) break;
      o -= idx[k] * ostride[k];
      idx[k] = 0;
    }
  }
  for (int64_t i = 0; i < osize; ++i) out[i] = float(acc[size_t(i)]);
}

void reduce(const float* x, float* out, const int32_t* shape, const int32_t* mask, int rank, bool mean) {
  int64_t total = 1, osize = 1, rsize = 1;
  for (int i = 0; i < rank; ++i) {
    total *= shape[i];
    if (mask[i]) rsize *= shape[i];
    else osize *= shape[i];
  }
  if (osize == 0) return;
  if (total == 0) {
    for (int64_t i = 0; i < osize; ++i) out[i] = 0.0f;
    return;
  }
  Elem e{0, 1.0f, 1.0f};
  if (mean) {
    const float div = float(rsize);  // tfjs: a float32 scalar holding the size
    int exp = 0;
    const float m = std::frexp(div, &exp);
    if (m == 0.5f && exp >= -100 && exp <= 100) e = Elem{1, std::ldexp(1.0f, 1 - exp), div};
    else e = Elem{2, 1.0f, div};
  }
  // Collapse: drop size-1 dims, merge neighbours of the same kind.
  int64_t n[kMaxRank];
  bool red[kMaxRank];
  int nd = 0;
  for (int i = 0; i < rank; ++i) {
    if (shape[i] == 1) continue;
    const bool r = mask[i] != 0;
    if (nd > 0 && red[nd - 1] == r) {
      n[nd - 1] *= shape[i];
      continue;
    }
    n[nd] = shape[i];
    red[nd] = r;
    ++nd;
  }
  if (nd == 0) {
    out[0] = float(e(x[0]));
    return;
  }
  int64_t K1 = 1, R = 1, K2 = 1;
  if (nd == 1) {
    if (red[0]) R = n[0];
    else K2 = n[0];
  } else if (nd == 2) {
    if (red[0]) R = n[0], K2 = n[1];
    else K1 = n[0], R = n[1];
  } else if (nd == 3 && !red[0]) {
    K1 = n[0], R = n[1], K2 = n[2];
  } else {
    reduce_general(x, out, n, red, nd, osize, e);
    return;
  }
  if (R == 1) {  // nothing reduced: out = e(x)
    run_chunks(total, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) out[i] = float(e(x[i]));
    });
    return;
  }
  reduce_krk(x, out, K1, R, K2, e);
}

// ---- strided copy ---------------------------------------------------------

// dst[doff + sum i_k*ds_k] = src[soff + sum i_k*ss_k] over the index box.
void strided_copy(const float* src, float* dst, const int64_t* shape, const int64_t* ss, const int64_t* ds, int rank) {
  int64_t n[kMaxRank], a[kMaxRank], b[kMaxRank];
  int nd = 0;
  for (int i = 0; i < rank; ++i) {
    if (shape[i] == 0) return;
    if (shape[i] == 1) continue;
    if (nd > 0 && a[nd - 1] == ss[i] * shape[i] && b[nd - 1] == ds[i] * shape[i]) {
      n[nd - 1] *= shape[i];
      a[nd - 1] = ss[i];
      b[nd - 1] = ds[i];
      continue;
    }
    n[nd] = shape[i], a[nd] = ss[i], b[nd] = ds[i];
    ++nd;
  }
  if (nd == 0) {
    dst[0] = src[0];
    return;
  }
  const int64_t inner = n[nd - 1], si = a[nd - 1], di = b[nd - 1];
  int64_t rows = 1;
  for (int k = 0; k < nd - 1; ++k) rows *= n[k];
  run_chunks(rows, inner, [&](int64_t r0, int64_t r1) {
    int64_t idx[kMaxRank] = {};
    int64_t os = 0, od = 0;
    int64_t r = r0;
    for (int k = nd - 2; k >= 0; --k) {
      idx[k] = r % n[k];
      r /= n[k];
      os += idx[k] * a[k];
      od += idx[k] * b[k];
    }
    for (int64_t q = r0; q < r1; ++q) {
      const float* __restrict ps = src + os;
      float* __restrict pd = dst + od;
      if (si == 1 && di == 1) std::memcpy(pd, ps, size_t(inner) * sizeof(float));
      else
        for (int64_t i = 0; i < inner; ++i) pd[i * di] = ps[i * si];
      for (int k = nd - 2; k >= 0; --k) {
        os += a[k];
        od += b[k];
        if (++idx[k] < n[k]) break;
        os -= idx[k] * a[k];
        od -= idx[k] * b[k];
        idx[k] = 0;
      }
    }
  });
}

// ---- depthwise (stride 1), pooling ----------------------------------------

struct DwShape {
  int64_t N, Hs, Ws, C, Hd, Wd;  // source [N,Hs,Ws,C], destination [N,Hd,Wd,C]
  int ntaps;
  const int32_t* off;  // per tap: dy, dx (source offset from the destination pixel)
};

// dst[n,y,x,c] = sum_k src[n, y+dy_k, x+dx_k, c] * w[k*C + c] over the taps
// inside the source, in double, rounded once. Channels go in blocks of 8
// whose sums stay in registers across the taps.
ALAE_EW_CLONES void depthwise_rows(const DwShape& s, const float* src, const double* wd, float* dst, int64_t r0,
                                   int64_t r1) {
  const int64_t C = s.C, C8 = C & ~int64_t{7};
  std::vector<const float*> tp(static_cast<size_t>(s.ntaps));
  std::vector<const double*> wp(static_cast<size_t>(s.ntaps));
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t nb = r / s.Hd, y = r % s.Hd;
    for (int64_t x = 0; x < s.Wd; ++x) {
      // The taps inside the source for this pixel.
      int nv = 0;
      for (int k = 0; k < s.ntaps; ++k) {
        const int64_t sy = y + s.off[2 * k], sx = x + s.off[2 * k + 1];
        if (sy >= 0 && sy < s.Hs && sx >= 0 && sx < s.Ws) {
          tp[size_t(nv)] = src + ((nb * s.Hs + sy) * s.Ws + sx) * C;
          wp[size_t(nv)] = wd + int64_t(k) * C;
          ++nv;
        }
      }
      float* __restrict pd = dst + ((nb * s.Hd + y) * s.Wd + x) * C;
      for (int64_t c0 = 0; c0 < C8; c0 += 8) {
        double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int q = 0; q < nv; ++q) {
          const float* __restrict ps = tp[size_t(q)] + c0;
          const double* __restrict pw = wp[size_t(q)] + c0;
          for (int j = 0; j < 8; ++j) a[j] += double(ps[j]) * pw[j];
        }
        for (int j = 0; j < 8; ++j) pd[c0 + j] = float(a[j]);
      }
      for (int64_t c = C8; c < C; ++c) {
        double a = 0;
        for (int q = 0; q < nv; ++q) a += double(tp[size_t(q)][c]) * wp[size_t(q)][c];
        pd[c] = float(a);
      }
    }
  }
}

void depthwise_taps(const DwShape& s, const float* src, const float* w, float* dst) {
  std::vector<double> wd(static_cast<size_t>(int64_t(s.ntaps) * s.C));  // the filter in double, once
  for (size_t i = 0; i < wd.size(); ++i) wd[i] = double(w[i]);
  run_chunks(s.N * s.Hd, s.Wd * s.C * s.ntaps,
             [&](int64_t r0, int64_t r1) { depthwise_rows(s, src, wd.data(), dst, r0, r1); });
}

// dw[k*C + c] = sum_{n,y,x} src[n, y+dy_k, x+dx_k, c] * dy[n,y,x,c] (dy over
// the destination grid), in double; chunks of rows added in order.
void depthwise_filter(const DwShape& s, const float* src, const float* dy, float* dw) {
  const int64_t C = s.C, T = s.ntaps, rowsAll = s.N * s.Hd;
  int64_t rows = kChunk / (s.Wd * C * T > 0 ? s.Wd * C * T : 1);
  if (rows < 1) rows = 1;
  const int64_t nch = (rowsAll + rows - 1) / rows;
  std::vector<double> part(static_cast<size_t>(nch * T * C), 0.0);
  run_chunks(nch, rows * s.Wd * C * T, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      double* __restrict acc = part.data() + ch * T * C;
      const int64_t rEnd = (ch + 1) * rows < rowsAll ? (ch + 1) * rows : rowsAll;
      for (int64_t r = ch * rows; r < rEnd; ++r) {
        const int64_t nb = r / s.Hd, y = r % s.Hd;
        for (int64_t x = 0; x < s.Wd; ++x) {
          const float* __restrict pg = dy + ((nb * s.Hd + y) * s.Wd + x) * C;
          for (int k = 0; k < T; ++k) {
            const int64_t sy = y + s.off[2 * k], sx = x + s.off[2 * k + 1];
            if (sy < 0 || sy >= s.Hs || sx < 0 || sx >= s.Ws) continue;
            const float* __restrict ps = src + ((nb * s.Hs + sy) * s.Ws + sx) * C;
            double* __restrict a = acc + k * C;
            for (int64_t c = 0; c < C; ++c) a[c] += double(ps[c]) * double(pg[c]);
          }
        }
      }
    }
  });
  for (int64_t i = 0; i < T * C; ++i) {
    double t = 0;
    for (int64_t ch = 0; ch < nch; ++ch) t += part[size_t(ch * T * C + i)];
    dw[i] = float(t);
  }
}

struct PoolShape {
  int64_t N, H, W, C, Ho, Wo, fh, fw, sh, sw;
};

// Average pooling, no padding: every window lies inside the image.
void avg_pool(const PoolShape& s, const float* x, float* y) {
  const int64_t C = s.C;
  const double count = double(s.fh * s.fw);
  run_chunks(s.N * s.Ho, s.Wo * C * s.fh * s.fw, [&](int64_t r0, int64_t r1) {
    std::vector<double> acc(static_cast<size_t>(C));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t nb = r / s.Ho, oy = r % s.Ho;
      for (int64_t ox = 0; ox < s.Wo; ++ox) {
        std::fill(acc.begin(), acc.end(), 0.0);
        double* __restrict a = acc.data();
        for (int64_t i = 0; i < s.fh; ++i)
          for (int64_t j = 0; j < s.fw; ++j) {
            const float* __restrict px = x + ((nb * s.H + oy * s.sh + i) * s.W + ox * s.sw + j) * C;
            for (int64_t c = 0; c < C; ++c) a[c] += double(px[c]);
          }
        float* __restrict py = y + ((nb * s.Ho + oy) * s.Wo + ox) * C;
        for (int64_t c = 0; c < C; ++c) py[c] = float(a[c] / count);
      }
    }
  });
}

// Its gradient for non-overlapping windows (stride = window): each input
// pixel in a window gets dy / count; pixels no window covers get 0.
void avg_pool_grad(const PoolShape& s, const float* dy, float* dx) {
  const int64_t C = s.C;
  const double mult = 1.0 / double(s.fh * s.fw);
  run_chunks(s.N * s.H, s.W * C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t nb = r / s.H, y = r % s.H, oy = y / s.sh;
      float* __restrict pd = dx + r * s.W * C;
      if (oy >= s.Ho) {
        std::memset(pd, 0, size_t(s.W * C) * sizeof(float));
        continue;
      }
      for (int64_t x = 0; x < s.W; ++x) {
        const int64_t ox = x / s.sw;
        float* __restrict q = pd + x * C;
        if (ox >= s.Wo) {
          std::memset(q, 0, size_t(C) * sizeof(float));
          continue;
        }
        const float* __restrict g = dy + ((nb * s.Ho + oy) * s.Wo + ox) * C;
        for (int64_t c = 0; c < C; ++c) q[c] = float(double(g[c]) * mult);
      }
    }
  });
}

// ---- N-API ----------------------------------------------------------------

// Shape (Int32Array of rank <= 8, non-negative dims) -> element count.
bool shape_of(Args& a, size_t i, const int32_t** dims, int* rank, int64_t* size, const char* what) {
  size_t len = 0;
  *dims = a.i32(i, &len, what);
  if (a.failed) return false;
  if (len > size_t(kMaxRank)) {
    a.fail(std::string(what) + ": rank above 8");
    return false;
  }
  int64_t s = 1;
  for (size_t k = 0; k < len; ++k) {
    if ((*dims)[k] < 0) {
      a.fail(std::string(what) + ": negative dimension");
      return false;
    }
    s *= (*dims)[k];
    if (s > (int64_t{1} << 40)) {
      a.fail(std::string(what) + ": too large");
      return false;
    }
  }
  *rank = int(len);
  *size = s;
  return true;
}

// The shared part of ewBinary / ewCompare: operands, shapes, broadcast.
struct BinaryCall {
  const float *A = nullptr, *B = nullptr;
  void* out = nullptr;
  BDim d[kMaxRank];
  int nd = 0;
  int64_t osize = 0;
  int64_t op = 0;
};

bool binary_call(Args& a, napi_typedarray_type out_type, BinaryCall* c) {
  if (!a.need(6)) return false;
  c->op = a.integer(0, "op");
  const int32_t *as = nullptr, *bs = nullptr;
  int ra = 0, rb = 0;
  int64_t na = 0, nb = 0;
  if (!shape_of(a, 4, &as, &ra, &na, "aShape") || !shape_of(a, 5, &bs, &rb, &nb, "bShape")) return false;
  size_t la = 0, lb = 0, lo = 0;
  c->A = a.f32(1, &la, "a");
  c->B = a.f32(2, &lb, "b");
  c->out = out_type == napi_uint8_array ? static_cast<void*>(a.typed_len<uint8_t>(3, napi_uint8_array, &lo, "out"))
                                        : static_cast<void*>(a.f32(3, &lo, "out"));
  if (a.failed) return false;
  int32_t oshape[kMaxRank];
  if (!collapse_broadcast(as, ra, bs, rb, oshape, c->d, &c->nd, &c->osize)) {
    a.fail("shapes do not broadcast");
    return false;
  }
  return a.enough(la, na, "a") && a.enough(lb, nb, "b") && a.enough(lo, c->osize, "out");
}

// ewBinary(op, a, b, out, aShape, bShape)
napi_value EwBinary(napi_env env, napi_callback_info info) {
  Args a(env, info);
  BinaryCall c;
  if (!binary_call(a, napi_float32_array, &c)) return nullptr;
  if (c.osize == 0) return undefined(env);
  float* O = static_cast<float*>(c.out);
  switch (c.op) {
    case kAdd: binary_run<Add>(c.A, c.B, O, c.d, c.nd); break;
    case kSub: binary_run<Sub>(c.A, c.B, O, c.d, c.nd); break;
    case kMul: binary_run<Mul>(c.A, c.B, O, c.d, c.nd); break;
    case kDiv: binary_run<Div>(c.A, c.B, O, c.d, c.nd); break;
    default: a.fail("unknown binary op"); return nullptr;
  }
  return undefined(env);
}

// ewCompare(op, a, b, out: Uint8Array, aShape, bShape)
napi_value EwCompare(napi_env env, napi_callback_info info) {
  Args a(env, info);
  BinaryCall c;
  if (!binary_call(a, napi_uint8_array, &c)) return nullptr;
  if (c.osize == 0) return undefined(env);
  uint8_t* O = static_cast<uint8_t*>(c.out);
  switch (c.op) {
    case kGreater: binary_run<Gt>(c.A, c.B, O, c.d, c.nd); break;
    case kGreaterEqual: binary_run<Ge>(c.A, c.B, O, c.d, c.nd); break;
    case kLess: binary_run<Lt>(c.A, c.B, O, c.d, c.nd); break;
    case kLessEqual: binary_run<Le>(c.A, c.B, O, c.d, c.nd); break;
    case kEqual: binary_run<Eq>(c.A, c.B, O, c.d, c.nd); break;
    case kNotEqual: binary_run<Ne>(c.A, c.B, O, c.d, c.nd); break;
    default: a.fail("unknown comparison"); return nullptr;
  }
  return undefined(env);
}

// ewSelect(cond: Uint8Array, t, e, out): out[i] = cond[i] == 1 ? t[i] : e[i], all one shape.
napi_value EwSelect(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(4)) return nullptr;
  size_t lc = 0, lt = 0, le = 0, lo = 0;
  const uint8_t* Cd = a.typed_len<uint8_t>(0, napi_uint8_array, &lc, "condition");
  const float* T = a.f32(1, &lt, "t");
  const float* E = a.f32(2, &le, "e");
  float* O = a.f32(3, &lo, "out");
  if (a.failed) return nullptr;
  if (!a.enough(lt, int64_t(lc), "t") || !a.enough(le, int64_t(lc), "e") || !a.enough(lo, int64_t(lc), "out")) return nullptr;
  run_chunks(int64_t(lc), 1, [&](int64_t i0, int64_t i1) {
    const uint8_t* __restrict c = Cd;
    const float* __restrict t = T;
    const float* __restrict e = E;
    float* __restrict o = O;
    for (int64_t i = i0; i < i1; ++i) o[i] = c[i] == 1 ? t[i] : e[i];
  });
  return undefined(env);
}

// ewUnary(op, x, out, alpha)
napi_value EwUnary(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(4)) return nullptr;
  const int64_t op = a.integer(0, "op");
  size_t lx = 0, ly = 0;
  const float* X = a.f32(1, &lx, "x");
  float* Y = a.f32(2, &ly, "out");
  const double alpha = a.number(3, "alpha");
  if (a.failed) return nullptr;
  if (op < kSquare || op > kReciprocal) {
    a.fail("unknown unary op");
    return nullptr;
  }
  if (!a.enough(ly, int64_t(lx), "out")) return nullptr;
  run_chunks(int64_t(lx), 1, [&](int64_t i0, int64_t i1) { unary_range(int(op), X + i0, Y + i0, i1 - i0, alpha); });
  return undefined(env);
}

// ewReduce(x, out, shape, reduceMask, mean)
napi_value EwReduce(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(5)) return nullptr;
  const int32_t* shape = nullptr;
  int rank = 0;
  int64_t total = 0;
  if (!shape_of(a, 2, &shape, &rank, &total, "shape")) return nullptr;
  size_t lm = 0, lx = 0, lo = 0;
  const int32_t* mask = a.i32(3, &lm, "mask");
  const float* X = a.f32(0, &lx, "x");
  float* O = a.f32(1, &lo, "out");
  const int64_t mean = a.integer(4, "mean");
  if (a.failed) return nullptr;
  if (lm != size_t(rank)) {
    a.fail("mask must have one entry per dimension");
    return nullptr;
  }
  int64_t osize = 1;
  for (int i = 0; i < rank; ++i)
    if (!mask[i]) osize *= shape[i];
  if (!a.enough(lx, total, "x") || !a.enough(lo, osize, "out")) return nullptr;
  reduce(X, O, shape, mask, rank, mean != 0);
  return undefined(env);
}

// ewCopy(src, dst, shape, srcStrides, dstStrides, srcOffset, dstOffset)
napi_value EwCopy(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(7)) return nullptr;
  const int32_t* shape = nullptr;
  int rank = 0;
  int64_t total = 0;
  if (!shape_of(a, 2, &shape, &rank, &total, "shape")) return nullptr;
  size_t ls = 0, ld = 0, l1 = 0, l2 = 0;
  const float* S = a.f32(0, &ls, "src");
  float* D = a.f32(1, &ld, "dst");
  const int32_t* ss = a.i32(3, &l1, "srcStrides");
  const int32_t* ds = a.i32(4, &l2, "dstStrides");
  const int64_t so = a.integer(5, "srcOffset"), doff = a.integer(6, "dstOffset");
  if (a.failed) return nullptr;
  if (l1 != size_t(rank) || l2 != size_t(rank) || so < 0 || doff < 0) {
    a.fail("bad strides or offsets");
    return nullptr;
  }
  if (total == 0) return undefined(env);
  int64_t shp[kMaxRank], sst[kMaxRank], dst[kMaxRank];
  int64_t smax = so, dmax = doff;
  for (int i = 0; i < rank; ++i) {
    if (ss[i] < 0 || ds[i] < 0) {
      a.fail("negative stride");
      return nullptr;
    }
    shp[i] = shape[i], sst[i] = ss[i], dst[i] = ds[i];
    smax += (shp[i] - 1) * sst[i];
    dmax += (shp[i] - 1) * dst[i];
  }
  if (!a.enough(ls, smax + 1, "src") || !a.enough(ld, dmax + 1, "dst")) return nullptr;
  strided_copy(S + so, D + doff, shp, sst, dst, rank);
  return undefined(env);
}

// Depthwise params Int32Array: [N, Hs, Ws, C, Hd, Wd, ntaps]; offsets Int32Array [2*ntaps].
bool dw_shape(Args& a, size_t pi, size_t oi, DwShape* s) {
  size_t lp = 0, lo = 0;
  const int32_t* p = a.i32(pi, &lp, "params");
  const int32_t* off = a.i32(oi, &lo, "offsets");
  if (a.failed) return false;
  if (lp < 7) {
    a.fail("params is too short");
    return false;
  }
  for (int k = 0; k < 7; ++k)
    if (p[k] < 0) {
      a.fail("negative dimension");
      return false;
    }
  if (lo < size_t(2) * size_t(p[6])) {
    a.fail("offsets is too short");
    return false;
  }
  *s = DwShape{p[0], p[1], p[2], p[3], p[4], p[5], p[6], off};
  return true;
}

// ewDepthwise(src, w, dst, params, offsets)
napi_value EwDepthwise(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(5)) return nullptr;
  DwShape s;
  if (!dw_shape(a, 3, 4, &s)) return nullptr;
  size_t ls = 0, lw = 0, ld = 0;
  const float* S = a.f32(0, &ls, "src");
  const float* W = a.f32(1, &lw, "filter");
  float* D = a.f32(2, &ld, "dst");
  if (!a.enough(ls, s.N * s.Hs * s.Ws * s.C, "src") || !a.enough(lw, int64_t(s.ntaps) * s.C, "filter") ||
      !a.enough(ld, s.N * s.Hd * s.Wd * s.C, "dst"))
    return nullptr;
  depthwise_taps(s, S, W, D);
  return undefined(env);
}

// ewDepthwiseFilter(src, dy, dw, params, offsets)
napi_value EwDepthwiseFilter(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(5)) return nullptr;
  DwShape s;
  if (!dw_shape(a, 3, 4, &s)) return nullptr;
  size_t ls = 0, lg = 0, lw = 0;
  const float* S = a.f32(0, &ls, "src");
  const float* G = a.f32(1, &lg, "dy");
  float* W = a.f32(2, &lw, "dw");
  if (!a.enough(ls, s.N * s.Hs * s.Ws * s.C, "src") || !a.enough(lg, s.N * s.Hd * s.Wd * s.C, "dy") ||
      !a.enough(lw, int64_t(s.ntaps) * s.C, "dw"))
    return nullptr;
  depthwise_filter(s, S, G, W);
  return undefined(env);
}

// Pool params Int32Array: [N, H, W, C, Ho, Wo, fh, fw, sh, sw]
bool pool_shape(Args& a, size_t i, PoolShape* s) {
  size_t lp = 0;
  const int32_t* p = a.i32(i, &lp, "params");
  if (a.failed) return false;
  if (lp < 10) {
    a.fail("params is too short");
    return false;
  }
  for (int k = 0; k < 10; ++k)
    if (p[k] < (k < 6 ? 0 : 1)) {
      a.fail("bad pool dimension");
      return false;
    }
  *s = PoolShape{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]};
  if ((s->Ho > 0 && (s->Ho - 1) * s->sh + s->fh > s->H) || (s->Wo > 0 && (s->Wo - 1) * s->sw + s->fw > s->W)) {
    a.fail("pool window outside the input");
    return false;
  }
  return true;
}

// Nearest-neighbour 2x up-sampling, NHWC (tfjs ResizeNearestNeighbor with
// align_corners and half_pixel_centers off, at exactly twice the size: its
// source row and column are floor(y / 2), floor(x / 2)). A copy, so exact.
void upsample2x(int64_t N, int64_t H, int64_t W, int64_t C, const float* x, float* y) {
  const int64_t Wo = 2 * W;
  run_chunks(N * H, 4 * W * C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* __restrict src = x + r * W * C;
      float* __restrict row = y + 2 * r * Wo * C;  // output rows 2r and 2r + 1 of image r / H
      for (int64_t j = 0; j < W; ++j) {
        std::memcpy(row + (2 * j) * C, src + j * C, size_t(C) * sizeof(float));
        std::memcpy(row + (2 * j + 1) * C, src + j * C, size_t(C) * sizeof(float));
      }
      std::memcpy(row + Wo * C, row, size_t(Wo * C) * sizeof(float));
    }
  });
}

// ewUpsample2x(x, y, params [N, H, W, C])
napi_value EwUpsample2x(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(3)) return nullptr;
  size_t lp = 0, lx = 0, ly = 0;
  const int32_t* p = a.i32(2, &lp, "params");
  if (!p || !a.enough(lp, 4, "params")) return nullptr;
  const int64_t N = p[0], H = p[1], W = p[2], C = p[3];
  if (N < 0 || H < 0 || W < 0 || C < 0) {
    a.fail("params: bad shape");
    return nullptr;
  }
  const float* X = a.f32(0, &lx, "x");
  float* Y = a.f32(1, &ly, "y");
  if (!a.enough(lx, N * H * W * C, "x") || !a.enough(ly, 4 * N * H * W * C, "y")) return nullptr;
  upsample2x(N, H, W, C, X, Y);
  return undefined(env);
}

// ewAvgPool(x, y, params)
napi_value EwAvgPool(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(3)) return nullptr;
  PoolShape s;
  if (!pool_shape(a, 2, &s)) return nullptr;
  size_t lx = 0, ly = 0;
  const float* X = a.f32(0, &lx, "x");
  float* Y = a.f32(1, &ly, "y");
  if (!a.enough(lx, s.N * s.H * s.W * s.C, "x") || !a.enough(ly, s.N * s.Ho * s.Wo * s.C, "y")) return nullptr;
  avg_pool(s, X, Y);
  return undefined(env);
}

// ewAvgPoolGrad(dy, dx, params): stride = window only.
napi_value EwAvgPoolGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(3)) return nullptr;
  PoolShape s;
  if (!pool_shape(a, 2, &s)) return nullptr;
  if (s.sh != s.fh || s.sw != s.fw) {
    a.fail("avgPoolGrad: stride must equal the window");
    return nullptr;
  }
  size_t lg = 0, lx = 0;
  const float* G = a.f32(0, &lg, "dy");
  float* X = a.f32(1, &lx, "dx");
  if (!a.enough(lg, s.N * s.Ho * s.Wo * s.C, "dy") || !a.enough(lx, s.N * s.H * s.W * s.C, "dx")) return nullptr;
  avg_pool_grad(s, G, X);
  return undefined(env);
}

}  // namespace

void register_elementwise(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"ewBinary", nullptr, EwBinary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ewCompare", nullptr, EwCompare, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ewSelect", nullptr, EwSelect, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ewUnary", nullptr, EwUnary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ewReduce", nullptr, EwReduce, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ewCopy", nullptr, EwCopy, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ewDepthwise", nullptr, EwDepthwise, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ewDepthwiseFilter", nullptr, EwDepthwiseFilter, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ewAvgPool", nullptr, EwAvgPool, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ewAvgPoolGrad", nullptr, EwAvgPoolGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ewUpsample2x", nullptr, EwUpsample2x, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}

}  // namespace alae
