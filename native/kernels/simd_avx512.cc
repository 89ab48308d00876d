// AVX-512F: the wide float kernel (MR x 32 over two adjacent B panels: 12 zmm
// accumulators, 2 loads + 6 broadcasts per 12 FMAs) and the double kernel
// (MR x 16 in one pass); the single-panel float kernel and the packers are
// AVX2's (the packed layout is the same).
#include "simd.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define ALAE_SIMD_AVX512 1
#include <immintrin.h>

#define ALAE_ISA_TARGET "avx512f,avx2,fma"
#include "isa_begin.h"
#include "tile.h"

namespace alae {
namespace {

struct F32x16 {
  using T = float;
  using reg = __m512;
  static constexpr int L = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static reg bcast(const float* p) { return _mm512_set1_ps(*p); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static void store(float* p, reg x) { _mm512_storeu_ps(p, x); }
};

struct F64x8 {
  using T = double;
  using reg = __m512d;
  static constexpr int L = 8;
  static reg zero() { return _mm512_setzero_pd(); }
  static reg load(const double* p) { return _mm512_loadu_pd(p); }
  static reg bcast(const double* p) { return _mm512_set1_pd(*p); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
  static void store(double* p, reg x) { _mm512_storeu_pd(p, x); }
  static void store_float(float* p, reg x) { _mm256_storeu_ps(p, _mm512_maskz_cvtpd_ps(static_cast<__mmask8>(0xFF), x)); }
};

static_assert(F32x16::L == NR, "each half of the wide tile is one panel");

const MicroKernel kWide = kernel_f32<F32x16, 1>;
const MicroKernelD kDouble = kernel_f64<F64x8>;

}  // namespace
}  // namespace alae
#include "isa_end.h"
#endif

namespace alae {

// Outside the target region: runs on any CPU.
const Simd* simd_avx512() {
#if ALAE_SIMD_AVX512
  static const Simd* const table = []() -> const Simd* {
    __builtin_cpu_init();
    const Simd* avx2 = simd_avx2();
    if (!avx2 || !__builtin_cpu_supports("avx512f")) return nullptr;
    static const Simd s = {"avx512", avx2->kernel, kWide, avx2->interleave6, avx2->interleave16, kDouble};
    return &s;
  }();
  return table;
#else
  return nullptr;
#endif
}

}  // namespace alae
