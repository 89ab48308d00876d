// conv2d, conv2dBackpropInput and conv2dBackpropFilter (kernels/conv.h).
#include "../kernels/conv.h"

#include <cstdint>
#include <cstring>

#include "args.h"
#include "bindings.h"

namespace alae {
namespace {

void out_of_memory(napi_env env) { napi_throw_error(env, nullptr, "alae_native: out of memory"); }

constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;

// The params Int32Array holds ConvShape's fields in order (kConvLayout).
bool conv_shape(Args& a, size_t i, ConvShape* s) {
  const int32_t* p = params(a, i, kConvLayout);
  if (!p) return false;
  std::memcpy(s, p, sizeof(ConvShape));
  for (int k = 0; k < 13; ++k)
    if (p[k] < 0) {
      a.fail("negative conv dimension");
      return false;
    }
  if (s->strideH < 1 || s->strideW < 1 || s->dilH < 1 || s->dilW < 1) {
    a.fail("strides and dilations must be >= 1");
    return false;
  }
  const int64_t in = int64_t{s->batch} * s->inH * s->inW * s->inC;
  const int64_t out = int64_t{s->batch} * s->outH * s->outW * s->outC;
  const int64_t filt = int64_t{s->kH} * s->kW * s->inC * s->outC;
  const int64_t cols = int64_t{s->batch} * s->outH * s->outW;
  if (in > kMaxDim * 4 || out > kMaxDim * 4 || filt > kMaxDim || cols > kMaxDim ||
      int64_t{s->kH} * s->kW * s->inC > kMaxDim) {
    a.fail("tensor too large");
    return false;
  }
  return true;
}

size_t in_size(const ConvShape& s) { return size_t(s.batch) * s.inH * s.inW * s.inC; }
size_t out_size(const ConvShape& s) { return size_t(s.batch) * s.outH * s.outW * s.outC; }
size_t filter_size(const ConvShape& s) { return size_t(s.kH) * s.kW * s.inC * s.outC; }

// conv2d(x, w, y, params, precise): precise accumulates in double and rounds once.
napi_value Conv2D(napi_env env, napi_callback_info info) {
  Args a(env, info);
  ConvShape s;
  if (!a.need(5) || !conv_shape(a, 3, &s)) return nullptr;
  const bool precise = a.boolean(4);
  const float* x = a.typed<float>(0, napi_float32_array, in_size(s), "x");
  const float* w = a.typed<float>(1, napi_float32_array, filter_size(s), "filter");
  float* y = a.typed<float>(2, napi_float32_array, out_size(s), "y");
  if (a.failed) return nullptr;
  if (!conv2d(s, x, w, y, precise)) out_of_memory(env);
  return undefined(env);
}

// conv2dBackpropInput(dy, w, dx, params)
napi_value Conv2DBackpropInput(napi_env env, napi_callback_info info) {
  Args a(env, info);
  ConvShape s;
  if (!a.need(4) || !conv_shape(a, 3, &s)) return nullptr;
  const float* dy = a.typed<float>(0, napi_float32_array, out_size(s), "dy");
  const float* w = a.typed<float>(1, napi_float32_array, filter_size(s), "filter");
  float* dx = a.typed<float>(2, napi_float32_array, in_size(s), "dx");
  if (a.failed) return nullptr;
  if (!conv2d_backprop_input(s, dy, w, dx)) out_of_memory(env);
  return undefined(env);
}

// conv2dBackpropFilter(x, dy, dw, params)
napi_value Conv2DBackpropFilter(napi_env env, napi_callback_info info) {
  Args a(env, info);
  ConvShape s;
  if (!a.need(4) || !conv_shape(a, 3, &s)) return nullptr;
  const float* x = a.typed<float>(0, napi_float32_array, in_size(s), "x");
  const float* dy = a.typed<float>(1, napi_float32_array, out_size(s), "dy");
  float* dw = a.typed<float>(2, napi_float32_array, filter_size(s), "dw");
  if (a.failed) return nullptr;
  if (!conv2d_backprop_filter(s, x, dy, dw)) out_of_memory(env);
  return undefined(env);
}

}  // namespace

void register_conv(napi_env env, napi_value exports) {
  export_functions(env, exports,
                   {{"conv2d", Conv2D}, {"conv2dBackpropInput", Conv2DBackpropInput}, {"conv2dBackpropFilter", Conv2DBackpropFilter}});
}

}  // namespace alae
