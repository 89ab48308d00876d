// Sum / mean over any set of axes, accumulated in double (as tfjs's cpu
// backend does with JS numbers) and rounded once. The shapes collapse to
// [K1, R, K2] (reduce a middle block: NHWC axes [1,2]; a leading block: bias
// gradients; the last block: K2 = 1); anything else runs a general serial
// loop.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ew_common.h"

namespace alae {
namespace {

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

}  // namespace

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

}  // namespace alae
