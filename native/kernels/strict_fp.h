// Included first by kernels that must round each float operation as the tfjs
// op chain they replace does: no contraction of a * b + c into a fused
// multiply-add (GCC contracts by default in GNU mode; aarch64 has FMA as baseline).
#pragma once

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
