// alae native kernels: shared declarations.
//
// Layout conventions (all row-major, single precision):
//   GEMM      C[M,N] (+)= A[M,K] * B[K,N]
//   Conv2D    x NHWC, filter HWIO, y NHWC
// The GEMM is a packed, cache-blocked design: B is packed into KC x NR
// micro-panels, A into MR x KC micro-panels, and a register-blocked MR x NR
// micro-kernel does the arithmetic. The packers are function objects, so
// convolutions pack straight from the image (implicit im2col) and never
// materialise the column matrix.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace alae {

constexpr int MR = 6;    // micro-tile rows (A panel height)
constexpr int NR = 16;   // micro-tile columns (B panel width, 2 x 8 lanes)
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
  // Optional 6 x 32 kernel over two adjacent B panels (b and b + kc*NR),
  // nr in (NR, 2*NR]; nullptr when the ISA has no use for it.
  MicroKernel kernel_wide;
  Interleave interleave6;  // R = MR
  Interleave interleave16; // R = NR
  MicroKernelD kernel_d;   // MR x NR over double panels (precise Conv2D)
};

// The active SIMD implementation (picked at load by CPU detection).
const Simd& simd();
// Force one by name ("avx512", "avx2", "generic", "auto"); false if unknown or unsupported.
bool set_simd(const char* name);
// Conv2D accumulation: false (default) = double accumulation, rounded once;
// true = the float32 GEMM. Initialised from ALAE_NATIVE_CONV_FP32 at load.
bool conv_fp32();
void set_conv_fp32(bool on);
// A zero-filled buffer of at least KC floats (for padding taps).
const float* zeros();

// ---- thread pool -------------------------------------------------------
// Total threads (the caller included) parallel regions may use.
int num_threads();
// Limit the threads used (1..pool size); 0 restores the default.
void set_num_threads(int n);
// Run f(0..n-1), spread over the pool; the caller takes part. Runs serially
// when called from inside a parallel region or while another thread holds
// the pool (so concurrent callers never deadlock).
void parallel_for(int n, const std::function<void(int)>& f);

// ---- aligned scratch ----------------------------------------------------
float* aligned_floats(size_t n);  // 64-byte aligned, nullptr on failure
void free_floats(float* p);
inline double* aligned_doubles(size_t n) { return reinterpret_cast<double*>(aligned_floats(2 * n)); }
inline void free_doubles(double* p) { free_floats(reinterpret_cast<float*>(p)); }

}  // namespace alae
