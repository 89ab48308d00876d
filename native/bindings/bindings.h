// The N-API bindings of the kernel families (one file each in bindings/),
// added to the addon's exports by addon.cc.
#pragma once

#include <node_api.h>

namespace alae {

void register_matmul(napi_env env, napi_value exports);       // gemm, batchMatMul
void register_conv(napi_env env, napi_value exports);         // conv2d, conv2dBackpropInput / Filter
void register_elementwise(napi_env env, napi_value exports);  // ew*
void register_fused(napi_env env, napi_value exports);        // styleEpilogue*, instanceStats*, leakyForward, leakyGrad

}  // namespace alae
