// Elementwise, reduction, data-movement and small-window kernels of the
// native backend (elementwise.cc): the tfjs cpu kernels that dominate the
// model outside the convolutions (broadcast arithmetic, instance-norm means,
// slices of kernels, the depthwise blur, 2x2 average pooling).
#pragma once

#include <node_api.h>

namespace alae {

// Adds the ew* functions (see elementwise.cc) to the addon's exports.
void register_elementwise(napi_env env, napi_value exports);

}  // namespace alae
