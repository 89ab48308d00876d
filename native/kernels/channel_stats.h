// Shared by the fused per-(sample, channel) kernels over NHWC activations
// (style_epilogue.cc, instance_stats.cc): how the native Mean kernel adds one
// element, the split of the work into (sample, channel block) tasks, and the
// two passes an instance norm has in both: the variance around a mean, and
// the gradient's two channel sums.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "runtime.h"

namespace alae {

// The value a mean adds for one element, as the native Mean kernel: x * (1/M)
// when M is a power of two (exact), else x / M, in float32. Summed in double
// and rounded once, this gives the Mean kernel's bits up to the sum's order.
struct MeanElem {
  bool pow2;
  float inv, div;
  explicit MeanElem(int64_t m) : div(float(m)) {
    int e = 0;
    const float f = std::frexp(div, &e);
    pow2 = f == 0.5f && e >= -100 && e <= 100;
    inv = pow2 ? std::ldexp(1.0f, 1 - e) : 1.0f;
  }
  inline double operator()(float v) const { return double(pow2 ? v * inv : v / div); }
};

// Channels per task: a task is one sample and at most this many channels, so
// its per-channel sums stay in registers / L1 while it walks the pixels.
constexpr int64_t kChannelBlock = 64;

// f(n, c0, c1) for every sample n and channel block [c0, c1), in parallel
// when the tensor is large enough to pay for it.
template <class F>
void for_channel_tasks(int64_t N, int64_t M, int64_t C, F&& f) {
  const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
  const int64_t tasks = N * blocks;
  auto run = [&](int64_t t) {
    const int64_t n = t / blocks, c0 = (t % blocks) * kChannelBlock;
    f(n, c0, std::min(C, c0 + kChannelBlock));
  };
  if (tasks == 1 || N * M * C < 65536) {
    for (int64_t t = 0; t < tasks; ++t) run(t);
    return;
  }
  parallel_for(int(tasks), [&](int t) { run(t); });
}

// For the channels [c0, c1) of the M rows of C values at v + base: var[j] =
// mean((v - mean[j])^2) as the native Mean kernel would give it (`acc` is the
// double scratch, w long, left dirty).
inline void centred_variance(const float* v, int64_t base, int64_t M, int64_t C, int64_t c0, int64_t c1, const MeanElem& me,
                             const float* mean, std::vector<double>& acc, float* var) {
  const size_t w = size_t(c1 - c0);
  std::fill(acc.begin(), acc.begin() + std::ptrdiff_t(w), 0.0);
  for (int64_t p = 0; p < M; ++p) {
    const float* row = v + base + p * C;
    for (int64_t c = c0; c < c1; ++c) {
      const float d = row[c] - mean[size_t(c - c0)];
      acc[size_t(c - c0)] += me(d * d);
    }
  }
  for (size_t j = 0; j < w; ++j) var[j] = float(acc[j]);
}

// The sums an instance norm's gradient needs, per channel of [c0, c1): s1 =
// sum g, sn = sum g * normed (double, in pixel order; w long, overwritten).
inline void gradient_sums(const float* g, const float* normed, int64_t base, int64_t M, int64_t C, int64_t c0, int64_t c1,
                          std::vector<double>& s1, std::vector<double>& sn) {
  const size_t w = size_t(c1 - c0);
  std::fill(s1.begin(), s1.begin() + std::ptrdiff_t(w), 0.0);
  std::fill(sn.begin(), sn.begin() + std::ptrdiff_t(w), 0.0);
  for (int64_t p = 0; p < M; ++p) {
    const int64_t o = base + p * C;
    for (int64_t c = c0; c < c1; ++c) {
      const double gv = g[o + c];
      s1[size_t(c - c0)] += gv;
      sn[size_t(c - c0)] += gv * double(normed[o + c]);
    }
  }
}

}  // namespace alae
