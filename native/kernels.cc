// Micro-kernels and interleaving packers, one set per instruction set,
// picked at load time by CPU detection. The AVX2/FMA code is compiled with
// function-level target attributes, so the binary itself needs only the
// x86-64 baseline and runs (on the generic path) on any x86-64 CPU.
#include "common.h"

#include <cstdlib>
#include <cstring>

// The SIMD kernels need GCC/Clang (target attributes, __builtin_cpu_supports);
// other compilers get the portable path.
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define ALAE_X86 1
#include <immintrin.h>
#endif

namespace alae {
namespace {

alignas(64) const float kZeros[KC + 64] = {};

// ---- portable fallback ---------------------------------------------------
// Plain loops over a local tile; GCC vectorises them for the baseline ISA
// (SSE2 on x86-64, NEON on aarch64).
void kernel_generic(int kc, const float* __restrict a, const float* __restrict b, float* const* c, bool accumulate,
                    int mr, int nr) {
  float acc[MR][NR] = {};
  for (int k = 0; k < kc; ++k) {
    const float* bk = b + k * NR;
    const float* ak = a + k * MR;
    for (int i = 0; i < MR; ++i) {
      const float ai = ak[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * bk[j];
    }
  }
  for (int i = 0; i < mr; ++i) {
    float* ci = c[i];
    if (accumulate) {
      for (int j = 0; j < nr; ++j) ci[j] += acc[i][j];
    } else {
      for (int j = 0; j < nr; ++j) ci[j] = acc[i][j];
    }
  }
}

// Stores a finished double tile: adds the kept partial sums (unless first),
// then rounds once into c, or keeps the sum in cd.
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

// Portable double kernel (products of floats are exact in double; the sums
// are double-rounded, each with error ~2^-53).
void kernel_d_generic(int kc, const double* __restrict a, const double* __restrict b, double* const* cd,
                      float* const* c, bool first, int mr, int nr) {
  double acc[MR][NR] = {};
  for (int k = 0; k < kc; ++k) {
    const double* bk = b + k * NR;
    const double* ak = a + k * MR;
    for (int i = 0; i < MR; ++i) {
      const double ai = ak[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * bk[j];
    }
  }
  store_tile_d(acc, cd, c, first, mr, nr);
}

template <int R>
void interleave_generic(const float* const* src, int n, float* __restrict dst) {
  for (int q = 0; q < n; ++q)
    for (int r = 0; r < R; ++r) dst[q * R + r] = src[r][q];
}

#if ALAE_X86
// ---- AVX2 + FMA ----------------------------------------------------------
#define ALAE_AVX2 __attribute__((target("avx2,fma")))

ALAE_AVX2 void kernel_avx2(int kc, const float* __restrict a, const float* __restrict b, float* const* c,
                           bool accumulate, int mr, int nr) {
  // Pull the output tile towards L1 while the loop runs.
  for (int i = 0; i < mr; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c[i]), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c[i] + NR - 1), _MM_HINT_T0);
  }
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#define ALAE_STEP(K)                                                   \
  {                                                                    \
    const __m256 b0 = _mm256_load_ps(b + (K) * NR);                    \
    const __m256 b1 = _mm256_load_ps(b + (K) * NR + 8);                \
    __m256 av = _mm256_broadcast_ss(a + (K) * MR + 0);                 \
    c00 = _mm256_fmadd_ps(av, b0, c00);                                \
    c01 = _mm256_fmadd_ps(av, b1, c01);                                \
    av = _mm256_broadcast_ss(a + (K) * MR + 1);                        \
    c10 = _mm256_fmadd_ps(av, b0, c10);                                \
    c11 = _mm256_fmadd_ps(av, b1, c11);                                \
    av = _mm256_broadcast_ss(a + (K) * MR + 2);                        \
    c20 = _mm256_fmadd_ps(av, b0, c20);                                \
    c21 = _mm256_fmadd_ps(av, b1, c21);                                \
    av = _mm256_broadcast_ss(a + (K) * MR + 3);                        \
    c30 = _mm256_fmadd_ps(av, b0, c30);                                \
    c31 = _mm256_fmadd_ps(av, b1, c31);                                \
    av = _mm256_broadcast_ss(a + (K) * MR + 4);                        \
    c40 = _mm256_fmadd_ps(av, b0, c40);                                \
    c41 = _mm256_fmadd_ps(av, b1, c41);                                \
    av = _mm256_broadcast_ss(a + (K) * MR + 5);                        \
    c50 = _mm256_fmadd_ps(av, b0, c50);                                \
    c51 = _mm256_fmadd_ps(av, b1, c51);                                \
  }
  int k = 0;
  for (; k + 4 <= kc; k += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b + 10 * NR), _MM_HINT_T0);
    ALAE_STEP(0) ALAE_STEP(1) ALAE_STEP(2) ALAE_STEP(3)
    a += 4 * MR;
    b += 4 * NR;
  }
  for (; k < kc; ++k) {
    ALAE_STEP(0)
    a += MR;
    b += NR;
  }
#undef ALAE_STEP
  if (mr == MR && nr == NR) {
#define ALAE_STORE(I, X0, X1)                                           \
  {                                                                     \
    float* ci = c[I];                                                   \
    if (accumulate) {                                                   \
      X0 = _mm256_add_ps(X0, _mm256_loadu_ps(ci));                      \
      X1 = _mm256_add_ps(X1, _mm256_loadu_ps(ci + 8));                  \
    }                                                                   \
    _mm256_storeu_ps(ci, X0);                                           \
    _mm256_storeu_ps(ci + 8, X1);                                       \
  }
    ALAE_STORE(0, c00, c01) ALAE_STORE(1, c10, c11) ALAE_STORE(2, c20, c21)
    ALAE_STORE(3, c30, c31) ALAE_STORE(4, c40, c41) ALAE_STORE(5, c50, c51)
#undef ALAE_STORE
    return;
  }
  alignas(32) float t[MR][NR];
  _mm256_store_ps(t[0], c00); _mm256_store_ps(t[0] + 8, c01);
  _mm256_store_ps(t[1], c10); _mm256_store_ps(t[1] + 8, c11);
  _mm256_store_ps(t[2], c20); _mm256_store_ps(t[2] + 8, c21);
  _mm256_store_ps(t[3], c30); _mm256_store_ps(t[3] + 8, c31);
  _mm256_store_ps(t[4], c40); _mm256_store_ps(t[4] + 8, c41);
  _mm256_store_ps(t[5], c50); _mm256_store_ps(t[5] + 8, c51);
  for (int i = 0; i < mr; ++i) {
    float* ci = c[i];
    if (accumulate) {
      for (int j = 0; j < nr; ++j) ci[j] += t[i][j];
    } else {
      for (int j = 0; j < nr; ++j) ci[j] = t[i][j];
    }
  }
}

// Double kernel, AVX2: 4 doubles per ymm, so a 6 x 16 tile would need 24
// accumulators; the panel is done as two 6 x 8 halves (12 accumulators
// each), re-reading the A micro-panel (L1-resident) for the second half.
ALAE_AVX2 void kernel_d_avx2(int kc, const double* __restrict a, const double* __restrict b, double* const* cd,
                             float* const* c, bool first, int mr, int nr) {
  alignas(32) double t[MR][NR];
  const bool full = mr == MR && nr == NR;
  for (int h = 0; h < 2 && 8 * h < nr; ++h) {
    const double* ap = a;
    const double* bp = b + 8 * h;
    __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd();
    __m256d c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd();
    __m256d c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd();
    __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd();
    __m256d c40 = _mm256_setzero_pd(), c41 = _mm256_setzero_pd();
    __m256d c50 = _mm256_setzero_pd(), c51 = _mm256_setzero_pd();
#define ALAE_STEP(K)                                                   \
  {                                                                    \
    const __m256d b0 = _mm256_loadu_pd(bp + (K) * NR);                 \
    const __m256d b1 = _mm256_loadu_pd(bp + (K) * NR + 4);             \
    __m256d av = _mm256_broadcast_sd(ap + (K) * MR + 0);               \
    c00 = _mm256_fmadd_pd(av, b0, c00);                                \
    c01 = _mm256_fmadd_pd(av, b1, c01);                                \
    av = _mm256_broadcast_sd(ap + (K) * MR + 1);                       \
    c10 = _mm256_fmadd_pd(av, b0, c10);                                \
    c11 = _mm256_fmadd_pd(av, b1, c11);                                \
    av = _mm256_broadcast_sd(ap + (K) * MR + 2);                       \
    c20 = _mm256_fmadd_pd(av, b0, c20);                                \
    c21 = _mm256_fmadd_pd(av, b1, c21);                                \
    av = _mm256_broadcast_sd(ap + (K) * MR + 3);                       \
    c30 = _mm256_fmadd_pd(av, b0, c30);                                \
    c31 = _mm256_fmadd_pd(av, b1, c31);                                \
    av = _mm256_broadcast_sd(ap + (K) * MR + 4);                       \
    c40 = _mm256_fmadd_pd(av, b0, c40);                                \
    c41 = _mm256_fmadd_pd(av, b1, c41);                                \
    av = _mm256_broadcast_sd(ap + (K) * MR + 5);                       \
    c50 = _mm256_fmadd_pd(av, b0, c50);                                \
    c51 = _mm256_fmadd_pd(av, b1, c51);                                \
  }
    int k = 0;
    for (; k + 4 <= kc; k += 4) {
      _mm_prefetch(reinterpret_cast<const char*>(bp + 8 * NR), _MM_HINT_T0);
      ALAE_STEP(0) ALAE_STEP(1) ALAE_STEP(2) ALAE_STEP(3)
      ap += 4 * MR;
      bp += 4 * NR;
    }
    for (; k < kc; ++k) {
      ALAE_STEP(0)
      ap += MR;
      bp += NR;
    }
#undef ALAE_STEP
    if (full) {
      const __m256d acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
      for (int i = 0; i < MR; ++i) {
        __m256d x0 = acc[i][0], x1 = acc[i][1];
        if (c) {
          if (!first) {
            x0 = _mm256_add_pd(x0, _mm256_loadu_pd(cd[i] + 8 * h));
            x1 = _mm256_add_pd(x1, _mm256_loadu_pd(cd[i] + 8 * h + 4));
          }
          _mm_storeu_ps(c[i] + 8 * h, _mm256_cvtpd_ps(x0));
          _mm_storeu_ps(c[i] + 8 * h + 4, _mm256_cvtpd_ps(x1));
        } else {
          if (!first) {
            x0 = _mm256_add_pd(x0, _mm256_loadu_pd(cd[i] + 8 * h));
            x1 = _mm256_add_pd(x1, _mm256_loadu_pd(cd[i] + 8 * h + 4));
          }
          _mm256_storeu_pd(cd[i] + 8 * h, x0);
          _mm256_storeu_pd(cd[i] + 8 * h + 4, x1);
        }
      }
    } else {
      _mm256_store_pd(t[0] + 8 * h, c00); _mm256_store_pd(t[0] + 8 * h + 4, c01);
      _mm256_store_pd(t[1] + 8 * h, c10); _mm256_store_pd(t[1] + 8 * h + 4, c11);
      _mm256_store_pd(t[2] + 8 * h, c20); _mm256_store_pd(t[2] + 8 * h + 4, c21);
      _mm256_store_pd(t[3] + 8 * h, c30); _mm256_store_pd(t[3] + 8 * h + 4, c31);
      _mm256_store_pd(t[4] + 8 * h, c40); _mm256_store_pd(t[4] + 8 * h + 4, c41);
      _mm256_store_pd(t[5] + 8 * h, c50); _mm256_store_pd(t[5] + 8 * h + 4, c51);
    }
  }
  if (!full) store_tile_d(t, cd, c, first, mr, nr);
}

// 8x8 transpose of rows r0..r7 (in place).
ALAE_AVX2 inline void transpose8(__m256& r0, __m256& r1, __m256& r2, __m256& r3, __m256& r4, __m256& r5, __m256& r6,
                                 __m256& r7) {
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r0 = _mm256_permute2f128_ps(s0, s4, 0x20);
  r1 = _mm256_permute2f128_ps(s1, s5, 0x20);
  r2 = _mm256_permute2f128_ps(s2, s6, 0x20);
  r3 = _mm256_permute2f128_ps(s3, s7, 0x20);
  r4 = _mm256_permute2f128_ps(s0, s4, 0x31);
  r5 = _mm256_permute2f128_ps(s1, s5, 0x31);
  r6 = _mm256_permute2f128_ps(s2, s6, 0x31);
  r7 = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// 6 rows -> dst[q*6 + r]. Blocks of 8 columns are transposed in registers;
// each transposed row is 8 wide, of which 6 are wanted: rows are stored in
// ascending order with 8-wide stores, so each store's 2 extra lanes are
// overwritten by the next one; the last row of a block goes out with a
// 6-lane masked store, so nothing is written past dst + n*6.
ALAE_AVX2 void interleave6_avx2(const float* const* src, int n, float* __restrict dst) {
  const float *s0 = src[0], *s1 = src[1], *s2 = src[2], *s3 = src[3], *s4 = src[4], *s5 = src[5];
  const __m256i mask6 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
  int q = 0;
  for (; q + 8 <= n; q += 8) {
    __m256 r0 = _mm256_loadu_ps(s0 + q), r1 = _mm256_loadu_ps(s1 + q), r2 = _mm256_loadu_ps(s2 + q);
    __m256 r3 = _mm256_loadu_ps(s3 + q), r4 = _mm256_loadu_ps(s4 + q), r5 = _mm256_loadu_ps(s5 + q);
    __m256 r6 = _mm256_setzero_ps(), r7 = _mm256_setzero_ps();
    transpose8(r0, r1, r2, r3, r4, r5, r6, r7);
    float* d = dst + q * 6;
    _mm256_storeu_ps(d + 0, r0);
    _mm256_storeu_ps(d + 6, r1);
    _mm256_storeu_ps(d + 12, r2);
    _mm256_storeu_ps(d + 18, r3);
    _mm256_storeu_ps(d + 24, r4);
    _mm256_storeu_ps(d + 30, r5);
    _mm256_storeu_ps(d + 36, r6);
    _mm256_maskstore_ps(d + 42, mask6, r7);
  }
  for (; q < n; ++q) {
    float* d = dst + q * 6;
    d[0] = s0[q]; d[1] = s1[q]; d[2] = s2[q]; d[3] = s3[q]; d[4] = s4[q]; d[5] = s5[q];
  }
}

// 16 rows -> dst[q*16 + r]: two 8x8 transposes per 8 columns.
ALAE_AVX2 void interleave16_avx2(const float* const* src, int n, float* __restrict dst) {
  int q = 0;
  for (; q + 8 <= n; q += 8) {
    for (int h = 0; h < 2; ++h) {
      const float* const* s = src + 8 * h;
      __m256 r0 = _mm256_loadu_ps(s[0] + q), r1 = _mm256_loadu_ps(s[1] + q), r2 = _mm256_loadu_ps(s[2] + q);
      __m256 r3 = _mm256_loadu_ps(s[3] + q), r4 = _mm256_loadu_ps(s[4] + q), r5 = _mm256_loadu_ps(s[5] + q);
      __m256 r6 = _mm256_loadu_ps(s[6] + q), r7 = _mm256_loadu_ps(s[7] + q);
      transpose8(r0, r1, r2, r3, r4, r5, r6, r7);
      float* d = dst + q * 16 + 8 * h;
      _mm256_storeu_ps(d + 0 * 16, r0);
      _mm256_storeu_ps(d + 1 * 16, r1);
      _mm256_storeu_ps(d + 2 * 16, r2);
      _mm256_storeu_ps(d + 3 * 16, r3);
      _mm256_storeu_ps(d + 4 * 16, r4);
      _mm256_storeu_ps(d + 5 * 16, r5);
      _mm256_storeu_ps(d + 6 * 16, r6);
      _mm256_storeu_ps(d + 7 * 16, r7);
    }
  }
  for (; q < n; ++q)
    for (int r = 0; r < 16; ++r) dst[q * 16 + r] = src[r][q];
}

// ---- AVX-512F ------------------------------------------------------------
// 6 x 32 tile over two adjacent 16-wide B panels: 12 zmm accumulators,
// 2 loads + 6 broadcasts per 12 FMAs. The packed layout is the AVX2 one.
#define ALAE_AVX512 __attribute__((target("avx512f,avx2,fma")))

ALAE_AVX512 void kernel_avx512_wide(int kc, const float* __restrict a, const float* __restrict b, float* const* c,
                                    bool accumulate, int mr, int nr) {
  const float* __restrict b0p = b;
  const float* __restrict b1p = b + static_cast<size_t>(kc) * NR;
  for (int i = 0; i < mr; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c[i]), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c[i] + 2 * NR - 1), _MM_HINT_T0);
  }
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
  __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
  __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
  __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
  __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
  __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
#define ALAE_STEP(K)                                                   \
  {                                                                    \
    const __m512 b0 = _mm512_load_ps(b0p + (K) * NR);                  \
    const __m512 b1 = _mm512_load_ps(b1p + (K) * NR);                  \
    __m512 av = _mm512_set1_ps(a[(K) * MR + 0]);                       \
    c00 = _mm512_fmadd_ps(av, b0, c00);                                \
    c01 = _mm512_fmadd_ps(av, b1, c01);                                \
    av = _mm512_set1_ps(a[(K) * MR + 1]);                              \
    c10 = _mm512_fmadd_ps(av, b0, c10);                                \
    c11 = _mm512_fmadd_ps(av, b1, c11);                                \
    av = _mm512_set1_ps(a[(K) * MR + 2]);                              \
    c20 = _mm512_fmadd_ps(av, b0, c20);                                \
    c21 = _mm512_fmadd_ps(av, b1, c21);                                \
    av = _mm512_set1_ps(a[(K) * MR + 3]);                              \
    c30 = _mm512_fmadd_ps(av, b0, c30);                                \
    c31 = _mm512_fmadd_ps(av, b1, c31);                                \
    av = _mm512_set1_ps(a[(K) * MR + 4]);                              \
    c40 = _mm512_fmadd_ps(av, b0, c40);                                \
    c41 = _mm512_fmadd_ps(av, b1, c41);                                \
    av = _mm512_set1_ps(a[(K) * MR + 5]);                              \
    c50 = _mm512_fmadd_ps(av, b0, c50);                                \
    c51 = _mm512_fmadd_ps(av, b1, c51);                                \
  }
  int k = 0;
  for (; k + 4 <= kc; k += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(b0p + 8 * NR), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b1p + 8 * NR), _MM_HINT_T0);
    ALAE_STEP(0) ALAE_STEP(1) ALAE_STEP(2) ALAE_STEP(3)
    a += 4 * MR;
    b0p += 4 * NR;
    b1p += 4 * NR;
  }
  for (; k < kc; ++k) {
    ALAE_STEP(0)
    a += MR;
    b0p += NR;
    b1p += NR;
  }
#undef ALAE_STEP
  const __mmask16 m0 = nr >= NR ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << nr) - 1);
  const __mmask16 m1 = nr >= 2 * NR ? static_cast<__mmask16>(0xFFFF)
                                    : static_cast<__mmask16>(nr > NR ? (1u << (nr - NR)) - 1 : 0);
  const __m512 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int i = 0; i < mr; ++i) {
    float* ci = c[i];
    __m512 x0 = acc[i][0], x1 = acc[i][1];
    if (accumulate) {
      x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, ci));
      x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, ci + NR));
    }
    _mm512_mask_storeu_ps(ci, m0, x0);
    _mm512_mask_storeu_ps(ci + NR, m1, x1);
  }
}

// Double kernel, AVX-512F: 6 x 16 doubles = 12 zmm accumulators, the shape
// of the float wide kernel at half the lanes.
ALAE_AVX512 void kernel_d_avx512(int kc, const double* __restrict a, const double* __restrict b, double* const* cd,
                                 float* const* c, bool first, int mr, int nr) {
  __m512d c00 = _mm512_setzero_pd(), c01 = _mm512_setzero_pd();
  __m512d c10 = _mm512_setzero_pd(), c11 = _mm512_setzero_pd();
  __m512d c20 = _mm512_setzero_pd(), c21 = _mm512_setzero_pd();
  __m512d c30 = _mm512_setzero_pd(), c31 = _mm512_setzero_pd();
  __m512d c40 = _mm512_setzero_pd(), c41 = _mm512_setzero_pd();
  __m512d c50 = _mm512_setzero_pd(), c51 = _mm512_setzero_pd();
#define ALAE_STEP(K)                                                   \
  {                                                                    \
    const __m512d b0 = _mm512_loadu_pd(b + (K) * NR);                  \
    const __m512d b1 = _mm512_loadu_pd(b + (K) * NR + 8);              \
    __m512d av = _mm512_set1_pd(a[(K) * MR + 0]);                      \
    c00 = _mm512_fmadd_pd(av, b0, c00);                                \
    c01 = _mm512_fmadd_pd(av, b1, c01);                                \
    av = _mm512_set1_pd(a[(K) * MR + 1]);                              \
    c10 = _mm512_fmadd_pd(av, b0, c10);                                \
    c11 = _mm512_fmadd_pd(av, b1, c11);                                \
    av = _mm512_set1_pd(a[(K) * MR + 2]);                              \
    c20 = _mm512_fmadd_pd(av, b0, c20);                                \
    c21 = _mm512_fmadd_pd(av, b1, c21);                                \
    av = _mm512_set1_pd(a[(K) * MR + 3]);                              \
    c30 = _mm512_fmadd_pd(av, b0, c30);                                \
    c31 = _mm512_fmadd_pd(av, b1, c31);                                \
    av = _mm512_set1_pd(a[(K) * MR + 4]);                              \
    c40 = _mm512_fmadd_pd(av, b0, c40);                                \
    c41 = _mm512_fmadd_pd(av, b1, c41);                                \
    av = _mm512_set1_pd(a[(K) * MR + 5]);                              \
    c50 = _mm512_fmadd_pd(av, b0, c50);                                \
    c51 = _mm512_fmadd_pd(av, b1, c51);                                \
  }
  int k = 0;
  for (; k + 4 <= kc; k += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR + 8), _MM_HINT_T0);
    ALAE_STEP(0) ALAE_STEP(1) ALAE_STEP(2) ALAE_STEP(3)
    a += 4 * MR;
    b += 4 * NR;
  }
  for (; k < kc; ++k) {
    ALAE_STEP(0)
    a += MR;
    b += NR;
  }
#undef ALAE_STEP
  const __m512d acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (mr == MR && nr == NR) {
    for (int i = 0; i < MR; ++i) {
      __m512d x0 = acc[i][0], x1 = acc[i][1];
      if (!first) {
        x0 = _mm512_add_pd(x0, _mm512_loadu_pd(cd[i]));
        x1 = _mm512_add_pd(x1, _mm512_loadu_pd(cd[i] + 8));
      }
      if (c) {
        _mm256_storeu_ps(c[i], _mm512_maskz_cvtpd_ps(static_cast<__mmask8>(0xFF), x0));
        _mm256_storeu_ps(c[i] + 8, _mm512_maskz_cvtpd_ps(static_cast<__mmask8>(0xFF), x1));
      } else {
        _mm512_storeu_pd(cd[i], x0);
        _mm512_storeu_pd(cd[i] + 8, x1);
      }
    }
    return;
  }
  alignas(64) double t[MR][NR];
  for (int i = 0; i < MR; ++i) {
    _mm512_store_pd(t[i], acc[i][0]);
    _mm512_store_pd(t[i] + 8, acc[i][1]);
  }
  store_tile_d(t, cd, c, first, mr, nr);
}

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif  // ALAE_X86

const Simd kGeneric = {"generic", kernel_generic, nullptr, interleave_generic<MR>, interleave_generic<NR>, kernel_d_generic};
#if ALAE_X86
const Simd kAvx2 = {"avx2", kernel_avx2, nullptr, interleave6_avx2, interleave16_avx2, kernel_d_avx2};
const Simd kAvx512 = {"avx512", kernel_avx2, kernel_avx512_wide, interleave6_avx2, interleave16_avx2, kernel_d_avx512};
#endif

// ALAE_SIMD=generic|avx2|avx512 caps the choice (for testing and
// benchmarking); otherwise the widest the CPU supports.
const Simd* pick() {
  const char* force = std::getenv("ALAE_SIMD");
  if (force && std::strcmp(force, "generic") == 0) return &kGeneric;
#if ALAE_X86
  const bool cap_avx2 = force && std::strcmp(force, "avx2") == 0;
  if (!cap_avx2 && cpu_has_avx512()) return &kAvx512;
  if (cpu_has_avx2()) return &kAvx2;
#endif
  return &kGeneric;
}

const Simd* active = pick();

// ALAE_NATIVE_CONV_FP32=1 (any value but "" and "0") selects the float32
// Conv2D accumulation; the default is double accumulation.
bool read_conv_fp32() {
  const char* v = std::getenv("ALAE_NATIVE_CONV_FP32");
  return v && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

bool conv_fp32_flag = read_conv_fp32();

}  // namespace

bool conv_fp32() { return conv_fp32_flag; }
void set_conv_fp32(bool on) { conv_fp32_flag = on; }

const Simd& simd() { return *active; }

bool set_simd(const char* name) {
  if (std::strcmp(name, "generic") == 0) {
    active = &kGeneric;
    return true;
  }
#if ALAE_X86
  if (std::strcmp(name, "avx2") == 0 && cpu_has_avx2()) {
    active = &kAvx2;
    return true;
  }
  if (std::strcmp(name, "avx512") == 0 && cpu_has_avx512()) {
    active = &kAvx512;
    return true;
  }
#endif
  if (std::strcmp(name, "auto") == 0) {
    active = pick();
    return true;
  }
  return false;
}

const float* zeros() { return kZeros; }

}  // namespace alae
