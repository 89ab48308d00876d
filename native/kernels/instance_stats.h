// The encoder's fused statistics and instance norm (instance_stats.cc):
// mean, std and the normalised activations, forward and backward.
#pragma once

#include <cstdint>

namespace alae {

// x is [N, M = H*W, C]; the params array holds these fields in this order (layouts.instanceStats).
constexpr const char* kInstanceStatsLayout[] = {"N", "HW", "C"};

// normed = (x - mean) / sqrt(var + eps); mean, sd = sqrt(var) per (sample, channel).
void instance_stats_forward(int64_t N, int64_t M, int64_t C, const float* x, float eps, float* normed, float* mean,
                            float* sd);
// dx from the gradients of normed (gn), mean (gm) and std (gs).
void instance_stats_backward(int64_t N, int64_t M, int64_t C, const float* gn, const float* gm, const float* gs,
                             const float* normed, const float* sd, double eps, float* dx);

}  // namespace alae
