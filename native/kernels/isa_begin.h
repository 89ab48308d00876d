// Compiles what follows, up to isa_end.h, for the instruction set named by
// ALAE_ISA_TARGET (a GCC / clang target string), so one binary built for the
// x86-64 baseline carries code for wider ISAs, chosen at run time (simd_pick.cc).
// Include the standard and intrinsics headers before this one: only this
// file's own functions are meant to carry the target.
#define ALAE_PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define ALAE_ISA_PUSH(t) ALAE_PRAGMA(clang attribute push(__attribute__((target(t))), apply_to = function))
#elif defined(__GNUC__)
#define ALAE_ISA_PUSH(t) ALAE_PRAGMA(GCC push_options) ALAE_PRAGMA(GCC target(t))
#endif
ALAE_ISA_PUSH(ALAE_ISA_TARGET)
