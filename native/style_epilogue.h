// The generator's fused layer epilogue (style_epilogue.cc): noise, bias,
// leaky ReLU, instance norm and style modulation, forward and backward.
#pragma once

#include <node_api.h>

namespace alae {

// Adds styleEpilogue and styleEpilogueGrad to the addon's exports.
void register_style_epilogue(napi_env env, napi_value exports);

}  // namespace alae
