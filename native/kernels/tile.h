// The GEMM micro-kernels for vector instruction sets, written once for any
// vector type. An ISA file (simd_avx2.cc, simd_avx512.cc) includes this under
// its target pragma and instantiates the templates with its vector traits:
//
//   struct V { using T = float or double; using reg = the vector register;
//              static constexpr int L = lanes;
//              zero(), load(p), bcast(p), fma(a, b, c) = a*b + c, add(a, b),
//              store(p, x); for double also store_float(p, x) (rounded) };
//
// A tile is MR rows x two vectors: columns [0, L) come from B vector b0,
// [L, 2L) from b1, each advancing NR elements per depth step (b1 = b0 + L
// within one panel, or the next panel for the wide float kernel).
// Everything here has internal linkage, so every ISA file compiles its own
// copy for its own target and nothing leaks to another file's code.
#pragma once

#include "simd.h"

#if defined(__GNUC__) || defined(__clang__)
#define ALAE_INLINE inline __attribute__((always_inline))
#else
#define ALAE_INLINE inline
#endif


namespace alae {
namespace {

template <class V>
using Acc = typename V::reg[MR][2];

// One depth step: acc[i][v] += a[i] * b_v.
template <class V>
ALAE_INLINE void tile_step(const typename V::T* a, const typename V::T* b0, const typename V::T* b1, Acc<V>& acc) {
  const typename V::reg x0 = V::load(b0), x1 = V::load(b1);
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    const typename V::reg av = V::bcast(a + i);
    acc[i][0] = V::fma(av, x0, acc[i][0]);
    acc[i][1] = V::fma(av, x1, acc[i][1]);
  }
}

// acc = sum over k < kc of the depth steps, in k order (unrolled by 4, with
// the B lines 8 steps ahead prefetched).
template <class V>
ALAE_INLINE void tile_product(int kc, const typename V::T* __restrict a, const typename V::T* __restrict b0,
                              const typename V::T* __restrict b1, Acc<V>& acc) {
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = V::zero();
  int k = 0;
  for (; k + 4 <= kc; k += 4) {
    __builtin_prefetch(b0 + 8 * NR);
    __builtin_prefetch(b1 + 8 * NR);
    tile_step<V>(a, b0, b1, acc);
    tile_step<V>(a + MR, b0 + NR, b1 + NR, acc);
    tile_step<V>(a + 2 * MR, b0 + 2 * NR, b1 + 2 * NR, acc);
    tile_step<V>(a + 3 * MR, b0 + 3 * NR, b1 + 3 * NR, acc);
    a += 4 * MR;
    b0 += 4 * NR;
    b1 += 4 * NR;
  }
  for (; k < kc; ++k, a += MR, b0 += NR, b1 += NR) tile_step<V>(a, b0, b1, acc);
}

// A finished float tile t of W columns: C (+)= t, rows [0, mr) x columns
// [0, nr) (the edge tiles, and the portable kernel).
template <int W>
ALAE_INLINE void store_tile_f(const float (&t)[MR][W], float* const* c, bool accumulate, int mr, int nr) {
  for (int i = 0; i < mr; ++i) {
    float* ci = c[i];
    if (accumulate) {
      for (int j = 0; j < nr; ++j) ci[j] += t[i][j];
    } else {
      for (int j = 0; j < nr; ++j) ci[j] = t[i][j];
    }
  }
}

// Float tile of 2L columns: C rows (+)= acc, rows [0, mr) x columns [0, nr).
template <class V>
ALAE_INLINE void tile_store(Acc<V>& acc, float* const* c, bool accumulate, int mr, int nr) {
  constexpr int L = V::L;
  if (mr == MR && nr == 2 * L) {
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      typename V::reg x0 = acc[i][0], x1 = acc[i][1];
      if (accumulate) {
        x0 = V::add(x0, V::load(c[i]));
        x1 = V::add(x1, V::load(c[i] + L));
      }
      V::store(c[i], x0);
      V::store(c[i] + L, x1);
    }
    return;
  }
  alignas(64) float t[MR][2 * L];
  for (int i = 0; i < MR; ++i) {
    V::store(t[i], acc[i][0]);
    V::store(t[i] + L, acc[i][1]);
  }
  store_tile_f(t, c, accumulate, mr, nr);
}

// The float micro-kernel: MR x 2L over b0 = b and b1 = b + b1_offset(kc).
template <class V, int kSecondPanel>
void kernel_f32(int kc, const float* __restrict a, const float* __restrict b, float* const* c, bool accumulate, int mr,
                int nr) {
  // Pull the output tile towards L1 while the loop runs.
  for (int i = 0; i < mr; ++i) {
    __builtin_prefetch(c[i]);
    __builtin_prefetch(c[i] + 2 * V::L - 1);
  }
  Acc<V> acc;
  tile_product<V>(kc, a, b, kSecondPanel ? b + static_cast<size_t>(kc) * NR : b + V::L, acc);
  tile_store<V>(acc, c, accumulate, mr, nr);
}

// A finished double tile t (MR x NR): adds the kept partial sums (unless
// first), then rounds once into c, or keeps the sum in cd.
inline void store_tile_d(const double (&t)[MR][NR], double* const* cd, float* const* c, bool first, int mr, int nr) {
  for (int i = 0; i < mr; ++i) {
    const double* ti = t[i];
    if (c) {
      float* ci = c[i];
      if (first) {
        for (int j = 0; j < nr; ++j) ci[j] = static_cast<float>(ti[j]);
      } else {
        const double* di = cd[i];
        for (int j = 0; j < nr; ++j) ci[j] = static_cast<float>(ti[j] + di[j]);
      }
    } else {
      double* di = cd[i];
      if (first) {
        for (int j = 0; j < nr; ++j) di[j] = ti[j];
      } else {
        for (int j = 0; j < nr; ++j) di[j] += ti[j];
      }
    }
  }
}

// The double micro-kernel: an MR x NR panel in NR / 2L passes of MR x 2L
// (one with AVX-512's 8 lanes, two with AVX2's 4, re-reading the L1-resident
// A micro-panel).
template <class V>
void kernel_f64(int kc, const double* __restrict a, const double* __restrict b, double* const* cd, float* const* c,
                bool first, int mr, int nr) {
  constexpr int L = V::L, W = 2 * L;
  static_assert(NR % W == 0, "a pass must divide the panel");
  alignas(64) double t[MR][NR];
  const bool full = mr == MR && nr == NR;
  for (int h = 0; h < NR / W && W * h < nr; ++h) {
    Acc<V> acc;
    tile_product<V>(kc, a, b + W * h, b + W * h + L, acc);
    if (!full) {
      for (int i = 0; i < MR; ++i) {
        V::store(t[i] + W * h, acc[i][0]);
        V::store(t[i] + W * h + L, acc[i][1]);
      }
      continue;
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      typename V::reg x0 = acc[i][0], x1 = acc[i][1];
      if (!first) {
        x0 = V::add(x0, V::load(cd[i] + W * h));
        x1 = V::add(x1, V::load(cd[i] + W * h + L));
      }
      if (c) {
        V::store_float(c[i] + W * h, x0);
        V::store_float(c[i] + W * h + L, x1);
      } else {
        V::store(cd[i] + W * h, x0);
        V::store(cd[i] + W * h + L, x1);
      }
    }
  }
  if (!full) store_tile_d(t, cd, c, first, mr, nr);
}

}  // namespace
}  // namespace alae
