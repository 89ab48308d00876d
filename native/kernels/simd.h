// The GEMM's micro-kernels and interleaving packers, one set per instruction
// set (simd_generic.cc, simd_avx2.cc, simd_avx512.cc), picked at load time
// by CPU detection (simd.cc).
//
// Panels are row-major micro-panels: A as MR x kc (a[k*MR + i]), B as
// kc x NR (b[k*NR + j]); a micro-kernel computes an MR x NR tile (or, wide,
// MR x 2*NR over two adjacent B panels) of C = A * B.
#pragma once

#include <cstddef>

// GCC and clang on x86 compile the AVX2 and AVX-512 kernels (simd_avx2.cc,
// simd_avx512.cc) into any build, under target pragmas.
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define ALAE_X86_ISAS 1
#endif

namespace alae {

constexpr int MR = 6;    // micro-tile rows (A panel height)
constexpr int NR = 16;   // micro-tile columns (B panel width)

// C rows [0, mr) x cols [0, nr) (+)= sum_k a[k*MR + i] * b[k*NR + j].
// c[i] points at the first column of row i of the output tile.
using MicroKernel = void (*)(int kc, const float* a, const float* b, float* const* c, bool accumulate, int mr, int nr);
// Double-precision micro-kernel over double panels (same layout):
//   t[i][j] = sum_k a[k*MR + i] * b[k*NR + j]  (+ cd[i][j] unless first)
//   then c[i][j] = (float)t[i][j] when c is non-null (the one rounding),
//   else cd[i][j] = t[i][j] (a partial sum kept in double).
using MicroKernelD = void (*)(int kc, const double* a, const double* b, double* const* cd, float* const* c, bool first,
                              int mr, int nr);
// dst[q*R + r] = src[r][q] for q < n: interleaves R source rows.
using Interleave = void (*)(const float* const* src, int n, float* dst);

struct Simd {
  const char* name;
  MicroKernel kernel;
  // Optional MR x 2*NR kernel over two adjacent B panels (b and b + kc*NR),
  // nr in (NR, 2*NR]; nullptr when the ISA has no use for it.
  MicroKernel kernel_wide;
  Interleave interleave6;  // R = MR
  Interleave interleave16; // R = NR
  MicroKernelD kernel_d;   // MR x NR over double panels (precise Conv2D)
};

// The sets this build and CPU offer: nullptr when not compiled in or not supported.
const Simd* simd_generic();
const Simd* simd_avx2();
const Simd* simd_avx512();

// The active set (picked at load: the widest the CPU supports, capped by ALAE_SIMD).
const Simd& simd();
// Force one by name ("avx512", "avx2", "generic", "auto"); false if unknown or unsupported.
bool set_simd(const char* name);
// A zero-filled buffer of at least kZerosLength floats (for padding taps).
constexpr int kZerosLength = 1024;
const float* zeros();

}  // namespace alae
