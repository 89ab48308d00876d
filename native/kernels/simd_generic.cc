// The portable micro-kernels (any CPU, aarch64 included): plain loops over a
// local tile, which GCC vectorises for the baseline ISA (SSE2 on x86-64, NEON
// on aarch64).
#include "simd.h"
#include "tile.h"

namespace alae {
namespace {

// acc[i][j] = sum_k a[k*MR + i] * b[k*NR + j], in T.
template <class T>
void product_generic(int kc, const T* __restrict a, const T* __restrict b, T (&acc)[MR][NR]) {
  for (int k = 0; k < kc; ++k) {
    const T* bk = b + k * NR;
    const T* ak = a + k * MR;
    for (int i = 0; i < MR; ++i) {
      const T ai = ak[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * bk[j];
    }
  }
}

void kernel_generic(int kc, const float* __restrict a, const float* __restrict b, float* const* c, bool accumulate,
                    int mr, int nr) {
  float acc[MR][NR] = {};
  product_generic(kc, a, b, acc);
  store_tile_f(acc, c, accumulate, mr, nr);
}

// Products of floats are exact in double; the sums are double-rounded, each
// with error ~2^-53.
void kernel_d_generic(int kc, const double* __restrict a, const double* __restrict b, double* const* cd,
                      float* const* c, bool first, int mr, int nr) {
  double acc[MR][NR] = {};
  product_generic(kc, a, b, acc);
  store_tile_d(acc, cd, c, first, mr, nr);
}

template <int R>
void interleave_generic(const float* const* src, int n, float* __restrict dst) {
  for (int q = 0; q < n; ++q)
    for (int r = 0; r < R; ++r) dst[q * R + r] = src[r][q];
}

const Simd kGeneric = {"generic", kernel_generic, nullptr, interleave_generic<MR>, interleave_generic<NR>, kernel_d_generic};

}  // namespace

const Simd* simd_generic() { return &kGeneric; }

}  // namespace alae
