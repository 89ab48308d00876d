// The encoder's fused statistics and instance norm (instance_stats.cc):
// mean, std and the normalised activations, forward and backward.
#pragma once

#include <cstdint>

namespace alae {

// x is [N, M = H*W, C]; the params array holds these fields in this order (layouts.instanceStats).
constexpr const char* kInstanceStatsLayout[] = {"N", "HW", "C"};

// normed = (x - mean) / sqrt(var + eps); stats [N, 2C]: per sample the C means,
// then the C stds sqrt(var) (the layout of src/nn/instance-stats.ts).
void instance_stats_forward(int64_t N, int64_t M, int64_t C, const float* x, float eps, float* normed, float* stats);
// dx from the gradients of normed (gn) and of stats (gstats, [N, 2C] as stats).
void instance_stats_backward(int64_t N, int64_t M, int64_t C, const float* gn, const float* gstats, const float* normed,
                             const float* stats, double eps, float* dx);

}  // namespace alae
