// The encoder's per-block statistics and instance norm in one pass over the
// activations (see src/nn/instance-stats.ts): EncodeBlock of net.py takes
// the mean and std of each (sample, channel) over H*W and normalises.
// As tfjs ops the forward is 8 kernels (4 activation-sized) and its gradient
// ~15, each a full pass over memory with a fresh output buffer.
//
// Forward, per sample n and channel c over the M = H*W pixels (NHWC):
//   mean = sum(x / M); var = sum(((x - mean)^2) / M)   (summed in double and
//       rounded once, as the native Mean kernel)
//   std = sqrt(var); r = sqrt(var + eps); normed = (x - mean) / r
// each rounded to float32 as the op chain does, so the outputs have the
// chain's bits up to the order of a double sum.
// Backward (first order; R1's twice-differentiated pass keeps the chain),
// with gn = dL/dnormed, gm = dL/dmean, gs = dL/dstd (gm and gs from dL/dstats) and
// x - mean = normed r:
//   dx = (gn - mean(gn) - normed mean(gn normed)) / r      (instance norm)
//        + gm / M + gs normed r / (M std)                  (mean and std)
// A constant channel (std 0) gives NaN, as the chain and PyTorch do.
#include "strict_fp.h"  // first: no FMA contraction in what follows

#include <cmath>
#include <cstdint>
#include <vector>

#include "channel_stats.h"
#include "runtime.h"
#include "instance_stats.h"

namespace alae {

void instance_stats_forward(int64_t N, int64_t M, int64_t C, const float* x, float eps, float* normed, float* stats) {
  const MeanElem me(M);
  for_channel_tasks(N, M, C, [&](int64_t n, int64_t c0, int64_t c1) {
    const size_t w = size_t(c1 - c0);
    std::vector<double> acc(w, 0.0);
    std::vector<float> mu(w), var(w), r(w);
    const int64_t base = n * M * C;
    for (int64_t p = 0; p < M; ++p) {
      const float* row = x + base + p * C;
      for (int64_t c = c0; c < c1; ++c) acc[size_t(c - c0)] += me(row[c]);
    }
    for (size_t j = 0; j < w; ++j) mu[j] = float(acc[j]);
    centred_variance(x, base, M, C, c0, c1, me, mu.data(), acc, var.data());
    for (size_t j = 0; j < w; ++j) {
      stats[n * 2 * C + c0 + int64_t(j)] = mu[j];
      stats[n * 2 * C + C + c0 + int64_t(j)] = std::sqrt(var[j]);
      r[j] = std::sqrt(var[j] + eps);
    }
    for (int64_t p = 0; p < M; ++p) {
      const int64_t o = base + p * C;
      for (int64_t c = c0; c < c1; ++c) normed[o + c] = (x[o + c] - mu[size_t(c - c0)]) / r[size_t(c - c0)];
    }
  });
}

void instance_stats_backward(int64_t N, int64_t M, int64_t C, const float* gn, const float* gstats, const float* normed,
                             const float* stats, double eps, float* dx) {
  for_channel_tasks(N, M, C, [&](int64_t n, int64_t c0, int64_t c1) {
    const size_t w = size_t(c1 - c0);
    std::vector<double> s1(w), s2(w), k1(w), k0(w), kn(w);
    const int64_t base = n * M * C;
    gradient_sums(gn, normed, base, M, C, c0, c1, s1, s2);
    const double m = double(M);
    for (int64_t c = c0; c < c1; ++c) {
      const size_t j = size_t(c - c0);
      const double s = stats[n * 2 * C + C + c];
      const double r = std::sqrt(s * s + eps);
      k1[j] = 1.0 / r;
      k0[j] = double(gstats[n * 2 * C + c]) / m - s1[j] / (m * r);
      kn[j] = double(gstats[n * 2 * C + C + c]) * r / (m * s) - s2[j] / (m * r);
    }
    for (int64_t p = 0; p < M; ++p) {
      const int64_t o = base + p * C;
      for (int64_t c = c0; c < c1; ++c) {
        const size_t j = size_t(c - c0);
        dx[o + c] = float(double(gn[o + c]) * k1[j] + k0[j] + double(normed[o + c]) * kn[j]);
      }
    }
  });
}

}  // namespace alae
