// AVX2 + FMA: the float kernel (MR x 16: two ymm per row), the double kernel
// (two MR x 8 passes per panel) and the interleaving packers (8 x 8
// transposes in registers).
#include "simd.h"

#if ALAE_X86_ISAS
#include "x86_vectors.h"

#define ALAE_ISA_TARGET "avx2,fma"
#include "isa_begin.h"
#include "tile.h"

namespace alae {
namespace {

// F32: 8 floats, F64: 4 doubles (ymm).
ALAE_X86_VECTORS(256, _mm256_broadcast_ss(p), _mm256_broadcast_sd(p), _mm_storeu_ps(p, _mm256_cvtpd_ps(x)));

static_assert(2 * F32::L == NR, "the AVX2 float tile is one panel wide");

// 8x8 transpose of rows r0..r7 (in place).
inline void transpose8(__m256& r0, __m256& r1, __m256& r2, __m256& r3, __m256& r4, __m256& r5, __m256& r6,
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
void interleave6_avx2(const float* const* src, int n, float* __restrict dst) {
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
void interleave16_avx2(const float* const* src, int n, float* __restrict dst) {
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

const Simd kAvx2 = {"avx2", kernel_f32<F32, 0>, nullptr, interleave6_avx2, interleave16_avx2, kernel_f64<F64>};

}  // namespace
}  // namespace alae
#include "isa_end.h"
#endif

namespace alae {

// Outside the target region: runs on any CPU.
const Simd* simd_avx2() {
#if ALAE_X86_ISAS
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return ok ? &kAvx2 : nullptr;
#else
  return nullptr;
#endif
}

}  // namespace alae
