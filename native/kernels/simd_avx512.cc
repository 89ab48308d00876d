// AVX-512F: the wide float kernel (MR x 32 over two adjacent B panels: 12 zmm
// accumulators, 2 loads + 6 broadcasts per 12 FMAs) and the double kernel
// (MR x 16 in one pass); the single-panel float kernel and the packers are
// AVX2's (the packed layout is the same).
#include "simd.h"

#if ALAE_X86_ISAS
#include "x86_vectors.h"

#define ALAE_ISA_TARGET "avx512f,avx2,fma"
#include "isa_begin.h"
#include "tile.h"

namespace alae {
namespace {

// F32: 16 floats, F64: 8 doubles (zmm). The masked conversion (all lanes)
// is _mm512_cvtpd_ps without its "may be used uninitialized" warning.
ALAE_X86_VECTORS(512, _mm512_set1_ps(*p), _mm512_set1_pd(*p),
                 _mm256_storeu_ps(p, _mm512_maskz_cvtpd_ps(static_cast<__mmask8>(0xFF), x)));

static_assert(F32::L == NR, "each half of the wide tile is one panel");

const MicroKernel kWide = kernel_f32<F32, 1>;
const MicroKernelD kDouble = kernel_f64<F64>;

}  // namespace
}  // namespace alae
#include "isa_end.h"
#endif

namespace alae {

// Outside the target region: runs on any CPU.
const Simd* simd_avx512() {
#if ALAE_X86_ISAS
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
