// The encoder's fused statistics and instance norm (instance_stats.cc):
// mean, std and the normalised activations, forward and backward.
#pragma once

#include <node_api.h>

namespace alae {

// Adds instanceStats and instanceStatsGrad to the addon's exports.
void register_instance_stats(napi_env env, napi_value exports);

}  // namespace alae
