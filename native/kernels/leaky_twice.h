// The twice-differentiable leaky ReLU (leaky_twice.cc): its value in one pass, and its gradient
// with the mask read off that value.
#pragma once

#include <cstdint>

namespace alae {

// value = 0.2 x + 0.8 relu(x) (the op chain's roundings), over n elements.
void leaky_twice(const float* x, float* value, int64_t n);

// dx = dy * step(y, 0.2) (1 where y > 0, else 0.2; NaN where y is NaN), y the value above, over n elements.
void leaky_grad(const float* dy, const float* y, float* dx, int64_t n);

}  // namespace alae
