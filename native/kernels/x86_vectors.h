// The vector traits tile.h's templates take, for x86's registers of W bits:
// ALAE_X86_VECTORS(W, bcast32, bcast64, store) defines F32 (W/32 floats) and
// F64 (W/64 doubles) from the intrinsics' names, which differ only in prefix
// (_mm256_, _mm512_) and suffix (ps, pd); the broadcasts of *p (bcast32,
// bcast64) and F64::store_float(p, x) (x rounded to floats, stored at p) have
// no common name and are given. Expand it inside the ISA's target region
// (isa_begin.h); this header comes before it, with the intrinsics.
#pragma once

#include <immintrin.h>

#define ALAE_VECTOR_TRAITS(Name, Type, Reg, Lanes, P, S, Bcast, ...)     \
  struct Name {                                                           \
    using T = Type;                                                       \
    using reg = Reg;                                                      \
    static constexpr int L = Lanes;                                       \
    static reg zero() { return P##setzero_##S(); }                        \
    static reg load(const T* p) { return P##loadu_##S(p); }               \
    static reg bcast(const T* p) { return Bcast; }                        \
    static reg fma(reg a, reg b, reg c) { return P##fmadd_##S(a, b, c); } \
    static reg add(reg a, reg b) { return P##add_##S(a, b); }             \
    static void store(T* p, reg x) { P##storeu_##S(p, x); }               \
    __VA_ARGS__                                                           \
  }

#define ALAE_X86_VECTORS(W, bcast32, bcast64, store)                          \
  ALAE_VECTOR_TRAITS(F32, float, __m##W, W / 32, _mm##W##_, ps, bcast32);     \
  ALAE_VECTOR_TRAITS(F64, double, __m##W##d, W / 64, _mm##W##_, pd, bcast64, \
                     static void store_float(float* p, reg x) { store; })
