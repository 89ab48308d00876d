// The twice-differentiable leaky ReLU's forward: value and gradient mask in one pass (leaky_twice.cc).
#pragma once

#include <node_api.h>

namespace alae {

// Adds leakyTwice to the addon's exports.
void register_leaky_twice(napi_env env, napi_value exports);

}  // namespace alae
