// Unary maps (square, sqrt, rsqrt, neg, relu, leaky relu, step, reciprocal),
// with the cpu kernels' semantics for NaN and -0.
#include <cmath>
#include <cstdint>

#include "ew_common.h"

namespace alae {
namespace {

ALAE_EW_CLONES void unary_range(int op, const float* __restrict x, float* __restrict y, int64_t n, double alpha) {
  switch (op) {
    case kSquare:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] * x[i];
      break;
    case kSqrt:
      for (int64_t i = 0; i < n; ++i) y[i] = std::sqrt(x[i]);
      break;
    case kRsqrt:
      for (int64_t i = 0; i < n; ++i) y[i] = float(1.0 / std::sqrt(double(x[i])));
      break;
    case kNeg:
      for (int64_t i = 0; i < n; ++i) y[i] = -x[i];
      break;
    case kRelu:  // Math.max(0, x): NaN stays NaN, -0 becomes 0
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        y[i] = v > 0.0f ? v : (v != v ? v : 0.0f);
      }
      break;
    case kLeakyRelu:  // x < 0 ? alpha * x : x, the product in double (alpha is a JS number)
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        const float l = float(alpha * double(v));
        y[i] = v < 0.0f ? l : v;
      }
      break;
    case kStep: {
      const float a = float(alpha);
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        y[i] = v != v ? v : (v > 0.0f ? 1.0f : a);
      }
      break;
    }
    case kReciprocal:
      for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / x[i];
      break;
  }
}

}  // namespace

bool unary(int op, const float* x, float* y, int64_t n, double alpha) {
  if (op < kSquare || op > kReciprocal) return false;
  run_chunks(n, 1, [&](int64_t i0, int64_t i1) { unary_range(op, x + i0, y + i0, i1 - i0, alpha); });
  return true;
}

}  // namespace alae
