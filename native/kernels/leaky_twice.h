// The twice-differentiable leaky ReLU's forward: value and gradient mask in one pass (leaky_twice.cc).
#pragma once

#include <cstdint>

namespace alae {

// value = 0.2 x + 0.8 relu(x) (the op chain's roundings), mask = step(x, 0.2), over n elements.
void leaky_twice(const float* x, float* value, float* mask, int64_t n);

}  // namespace alae
