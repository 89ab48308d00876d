// The twice-differentiable leaky ReLU's forward in one pass (see leakyTwice
// in src/nn/ops.ts): the value 0.2 x + 0.8 relu(x), rounded as the op chain
// mul, relu, mul, add does, and the gradient mask step(x, 0.2) (1 where
// x > 0, else 0.2; NaN stays NaN). As tfjs ops that is 5 activation-sized
// kernels; the R1 pass runs it after every encoder convolution.
#include "strict_fp.h"  // first: no FMA contraction in what follows

#include <cstdint>

#include "runtime.h"
#include "leaky_twice.h"

namespace alae {
namespace {

constexpr int64_t kChunk = 65536;

void leaky_range(const float* __restrict x, float* __restrict value, float* __restrict mask, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; ++i) {
    const float v = x[i];
    const float relu = v > 0.0f ? v : (v != v ? v : 0.0f);  // the Relu kernel: NaN stays NaN
    const float a = v * 0.2f;
    const float b = relu * 0.8f;
    value[i] = a + b;
    mask[i] = v != v ? v : (v > 0.0f ? 1.0f : 0.2f);
  }
}

}  // namespace

void leaky_twice(const float* x, float* value, float* mask, int64_t total) {
  const int64_t tasks = total < 2 * kChunk ? 1 : (total + kChunk - 1) / kChunk;
  if (tasks == 1) {
    leaky_range(x, value, mask, 0, total);
  } else {
    parallel_for(int(tasks), [&](int t) {
      leaky_range(x, value, mask, total * t / tasks, total * (t + 1) / tasks);
    });
  }
}

}  // namespace alae
