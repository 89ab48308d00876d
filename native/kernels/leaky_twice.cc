// The twice-differentiable leaky ReLU (see leakyTwice in src/nn/ops.ts). The
// forward: the value 0.2 x + 0.8 relu(x), rounded as the op chain mul, relu,
// mul, add does (as tfjs ops that is 4 activation-sized kernels; the R1 pass
// runs it after every encoder convolution). The gradient: dy * step(y, 0.2)
// with the mask read off the value y (y > 0 exactly where x > 0; ops.ts
// says why), so the forward keeps no mask: step and multiply in one pass.
#include "strict_fp.h"  // first: no FMA contraction in what follows

#include <cstdint>

#include "runtime.h"
#include "leaky_twice.h"

namespace alae {
namespace {

constexpr int64_t kChunk = 65536;

// f over [0, total) in chunks, in parallel when there are two chunks or more.
template <class F>
void chunked(int64_t total, F f) {
  const int64_t tasks = total < 2 * kChunk ? 1 : (total + kChunk - 1) / kChunk;
  if (tasks == 1) {
    f(0, total);
  } else {
    parallel_for(int(tasks), [&](int t) { f(total * t / tasks, total * (t + 1) / tasks); });
  }
}

}  // namespace

void leaky_twice(const float* x, float* value, int64_t total) {
  chunked(total, [=](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float v = x[i];
      const float relu = v > 0.0f ? v : (v != v ? v : 0.0f);  // the Relu kernel: NaN stays NaN
      const float a = v * 0.2f;
      const float b = relu * 0.8f;
      value[i] = a + b;
    }
  });
}

void leaky_grad(const float* dy, const float* y, float* dx, int64_t total) {
  chunked(total, [=](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float v = y[i];
      const float mask = v != v ? v : (v > 0.0f ? 1.0f : 0.2f);  // the Step kernel, alpha 0.2
      dx[i] = dy[i] * mask;
    }
  });
}

}  // namespace alae
