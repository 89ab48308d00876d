// N-API bindings (plain C API: no node-addon-api dependency). Every call is
// synchronous on the calling JS thread; the work inside is spread over the
// thread pool. Arguments are validated here so a wrong call throws instead
// of reading or writing out of bounds.
#include <node_api.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "common.h"
#include "elementwise.h"
#include "instance_stats.h"
#include "leaky_twice.h"
#include "style_epilogue.h"
#include "napi_args.h"
#include "ops.h"

namespace {

using alae::Args;
using alae::undefined;

void out_of_memory(napi_env env) { napi_throw_error(env, nullptr, "alae_native: out of memory"); }

constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;

bool dims_ok(Args& a, std::initializer_list<int64_t> dims) {
  for (int64_t d : dims)
    if (d < 0 || d > kMaxDim) {
      a.fail("dimension out of range");
      return false;
    }
  return !a.failed;
}

// gemm(a, b, c, M, N, K, transA, transB, accumulate)
napi_value Gemm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(9)) return nullptr;
  const int64_t M = a.integer(3, "M"), N = a.integer(4, "N"), K = a.integer(5, "K");
  if (!dims_ok(a, {M, N, K, M * N, M * K, K * N})) return nullptr;
  const bool ta = a.boolean(6), tb = a.boolean(7), acc = a.boolean(8);
  const float* A = a.typed<float>(0, napi_float32_array, M * K, "a");
  const float* B = a.typed<float>(1, napi_float32_array, K * N, "b");
  float* C = a.typed<float>(2, napi_float32_array, M * N, "c");
  if (a.failed) return nullptr;
  if (!alae::sgemm(ta, tb, int(M), int(N), int(K), A, B, C, acc)) out_of_memory(env);
  return undefined(env);
}

// batchMatMul(a, b, out, aIdx, bIdx, batch, M, N, K, transA, transB)
napi_value BatchMatMul(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(11)) return nullptr;
  const int64_t batch = a.integer(5, "batch"), M = a.integer(6, "M"), N = a.integer(7, "N"), K = a.integer(8, "K");
  if (!dims_ok(a, {batch, M, N, K, M * N, M * K, K * N})) return nullptr;
  const bool ta = a.boolean(9), tb = a.boolean(10);
  const int32_t* ai = a.typed<int32_t>(3, napi_int32_array, batch, "aIdx");
  const int32_t* bi = a.typed<int32_t>(4, napi_int32_array, batch, "bIdx");
  if (a.failed) return nullptr;
  int64_t na = 0, nb = 0;
  for (int64_t i = 0; i < batch; ++i) {
    if (ai[i] < 0 || bi[i] < 0) {
      a.fail("negative batch index");
      return nullptr;
    }
    na = ai[i] + 1 > na ? ai[i] + 1 : na;
    nb = bi[i] + 1 > nb ? bi[i] + 1 : nb;
  }
  const float* A = a.typed<float>(0, napi_float32_array, na * M * K, "a");
  const float* B = a.typed<float>(1, napi_float32_array, nb * K * N, "b");
  float* O = a.typed<float>(2, napi_float32_array, batch * M * N, "out");
  if (a.failed) return nullptr;
  if (!alae::batch_matmul(int(batch), ai, bi, ta, tb, int(M), int(N), int(K), A, B, O)) out_of_memory(env);
  return undefined(env);
}

// Conv params Int32Array: [batch, inH, inW, inC, outH, outW, outC, kH, kW,
//                          strideH, strideW, dilH, dilW, padTop, padLeft]
bool conv_shape(Args& a, size_t i, alae::ConvShape* s) {
  const int32_t* p = a.typed<int32_t>(i, napi_int32_array, 15, "params");
  if (!p) return false;
  *s = alae::ConvShape{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14]};
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

size_t in_size(const alae::ConvShape& s) { return size_t(s.batch) * s.inH * s.inW * s.inC; }
size_t out_size(const alae::ConvShape& s) { return size_t(s.batch) * s.outH * s.outW * s.outC; }
size_t filter_size(const alae::ConvShape& s) { return size_t(s.kH) * s.kW * s.inC * s.outC; }

// conv2d(x, w, y, params)
napi_value Conv2D(napi_env env, napi_callback_info info) {
  Args a(env, info);
  alae::ConvShape s;
  if (!a.need(4) || !conv_shape(a, 3, &s)) return nullptr;
  const float* x = a.typed<float>(0, napi_float32_array, in_size(s), "x");
  const float* w = a.typed<float>(1, napi_float32_array, filter_size(s), "filter");
  float* y = a.typed<float>(2, napi_float32_array, out_size(s), "y");
  if (a.failed) return nullptr;
  if (!alae::conv2d(s, x, w, y)) out_of_memory(env);
  return undefined(env);
}

// conv2dBackpropInput(dy, w, dx, params)
napi_value Conv2DBackpropInput(napi_env env, napi_callback_info info) {
  Args a(env, info);
  alae::ConvShape s;
  if (!a.need(4) || !conv_shape(a, 3, &s)) return nullptr;
  const float* dy = a.typed<float>(0, napi_float32_array, out_size(s), "dy");
  const float* w = a.typed<float>(1, napi_float32_array, filter_size(s), "filter");
  float* dx = a.typed<float>(2, napi_float32_array, in_size(s), "dx");
  if (a.failed) return nullptr;
  if (!alae::conv2d_backprop_input(s, dy, w, dx)) out_of_memory(env);
  return undefined(env);
}

// conv2dBackpropFilter(x, dy, dw, params)
napi_value Conv2DBackpropFilter(napi_env env, napi_callback_info info) {
  Args a(env, info);
  alae::ConvShape s;
  if (!a.need(4) || !conv_shape(a, 3, &s)) return nullptr;
  const float* x = a.typed<float>(0, napi_float32_array, in_size(s), "x");
  const float* dy = a.typed<float>(1, napi_float32_array, out_size(s), "dy");
  float* dw = a.typed<float>(2, napi_float32_array, filter_size(s), "dw");
  if (a.failed) return nullptr;
  if (!alae::conv2d_backprop_filter(s, x, dy, dw)) out_of_memory(env);
  return undefined(env);
}

// info() -> { threads, simd, convAccum: 'fp64' | 'fp32' }
napi_value Info(napi_env env, napi_callback_info) {
  napi_value obj, threads, simd, conv;
  napi_create_object(env, &obj);
  napi_create_int32(env, alae::num_threads(), &threads);
  napi_create_string_utf8(env, alae::simd().name, NAPI_AUTO_LENGTH, &simd);
  napi_create_string_utf8(env, alae::conv_fp32() ? "fp32" : "fp64", NAPI_AUTO_LENGTH, &conv);
  napi_set_named_property(env, obj, "threads", threads);
  napi_set_named_property(env, obj, "simd", simd);
  napi_set_named_property(env, obj, "convAccum", conv);
  return obj;
}

// setConvFp32(on): Conv2D forward accumulates in float32 (true) or in double
// (false, the default); returns the previous setting. The initial value
// comes from ALAE_NATIVE_CONV_FP32 at load.
napi_value SetConvFp32(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(1)) return nullptr;
  const bool on = a.boolean(0);
  if (a.failed) return nullptr;
  napi_value r;
  napi_get_boolean(env, alae::conv_fp32(), &r);
  alae::set_conv_fp32(on);
  return r;
}

// setThreads(n): use at most n pool threads (0 = all).
napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(1)) return nullptr;
  const int64_t n = a.integer(0, "n");
  if (a.failed) return nullptr;
  alae::set_num_threads(n < 0 ? 0 : int(n > 1024 ? 1024 : n));
  return undefined(env);
}

// setSimd(name) -> boolean ("avx2", "generic", "auto")
napi_value SetSimd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(1)) return nullptr;
  char name[32] = {};
  size_t len = 0;
  if (napi_get_value_string_utf8(env, a.argv[0], name, sizeof(name), &len) != napi_ok) {
    a.fail("name must be a string");
    return nullptr;
  }
  napi_value r;
  napi_get_boolean(env, alae::set_simd(name), &r);
  return r;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"gemm", nullptr, Gemm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchMatMul", nullptr, BatchMatMul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2d", nullptr, Conv2D, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropInput", nullptr, Conv2DBackpropInput, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropFilter", nullptr, Conv2DBackpropFilter, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setSimd", nullptr, SetSimd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setConvFp32", nullptr, SetConvFp32, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  alae::register_elementwise(env, exports);
  alae::register_style_epilogue(env, exports);
  alae::register_instance_stats(env, exports);
  alae::register_leaky_twice(env, exports);
  return exports;
}

}  // namespace

NAPI_MODULE_INIT() { return Init(env, exports); }
