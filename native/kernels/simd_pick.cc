// Which micro-kernel set runs: the widest the CPU supports, capped by
// ALAE_SIMD=generic|avx2|avx512 (testing, benchmarks), or set_simd().
#include <cstdlib>
#include <cstring>

#include "simd.h"

namespace alae {
namespace {

alignas(64) const float kZeros[kZerosLength] = {};

const Simd* pick() {
  const char* force = std::getenv("ALAE_SIMD");
  if (force && std::strcmp(force, "generic") == 0) return simd_generic();
  const bool cap_avx2 = force && std::strcmp(force, "avx2") == 0;
  if (!cap_avx2 && simd_avx512()) return simd_avx512();
  if (simd_avx2()) return simd_avx2();
  return simd_generic();
}

const Simd* active = pick();

}  // namespace

const Simd& simd() { return *active; }

bool set_simd(const char* name) {
  const Simd* s = nullptr;
  if (std::strcmp(name, "generic") == 0) s = simd_generic();
  else if (std::strcmp(name, "avx2") == 0) s = simd_avx2();
  else if (std::strcmp(name, "avx512") == 0) s = simd_avx512();
  else if (std::strcmp(name, "auto") == 0) s = pick();
  if (!s) return false;
  active = s;
  return true;
}

const float* zeros() { return kZeros; }

}  // namespace alae
