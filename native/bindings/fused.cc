// The fused kernels' entry points: styleEpilogue(Grad) (kernels/style_epilogue.h),
// instanceStats(Grad) (kernels/instance_stats.h), leakyForward and leakyGrad (kernels/leaky_twice.h).
#include <cstdint>

#include "../kernels/instance_stats.h"
#include "../kernels/leaky_twice.h"
#include "../kernels/style_epilogue.h"
#include "args.h"
#include "bindings.h"

namespace alae {
namespace {

// The params Int32Array holds StyleEpilogueShape's fields (kStyleEpilogueLayout).
bool style_shape(Args& a, size_t i, StyleEpilogueShape* s) {
  const int32_t* p = params(a, i, kStyleEpilogueLayout);
  if (!p) return false;
  *s = StyleEpilogueShape{p[0], p[1], p[2], p[3], p[4]};
  if (s->N < 1 || s->H < 1 || s->W < 1 || s->C < 1 || (s->noiseBatch != 1 && s->noiseBatch != s->N)) {
    a.fail("params: bad shape");
    return false;
  }
  return true;
}

// styleEpilogue(x, noise, nw, bias, style, out, normed, mask, sd, params, eps)
napi_value StyleEpilogue(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(11)) return nullptr;
  StyleEpilogueShape s;
  if (!style_shape(a, 9, &s)) return nullptr;
  const int64_t total = s.N * s.M() * s.C;
  const float* x = a.typed<float>(0, napi_float32_array, total, "x");
  const float* noise = a.typed<float>(1, napi_float32_array, s.noiseBatch * s.M(), "noise");
  const float* nw = a.typed<float>(2, napi_float32_array, s.C, "noise weight");
  const float* bias = a.typed<float>(3, napi_float32_array, s.C, "bias");
  const float* style = a.typed<float>(4, napi_float32_array, s.N * 2 * s.C, "style");
  float* out = a.typed<float>(5, napi_float32_array, total, "out");
  float* normed = a.typed<float>(6, napi_float32_array, total, "normed");
  uint8_t* mask = a.typed<uint8_t>(7, napi_uint8_array, total, "mask");
  float* sd = a.typed<float>(8, napi_float32_array, s.N * s.C, "sd");
  const double eps = a.number(10, "eps");
  if (a.failed) return nullptr;
  style_epilogue_forward(s, x, noise, nw, bias, style, float(eps), out, normed, mask, sd);
  return undefined(env);
}

// styleEpilogueGrad(dy, normed, mask, sd, style, noise, dx, dnw, db, dstyle, params)
napi_value StyleEpilogueGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(11)) return nullptr;
  StyleEpilogueShape s;
  if (!style_shape(a, 10, &s)) return nullptr;
  const int64_t total = s.N * s.M() * s.C;
  const float* dy = a.typed<float>(0, napi_float32_array, total, "dy");
  const float* normed = a.typed<float>(1, napi_float32_array, total, "normed");
  const uint8_t* mask = a.typed<uint8_t>(2, napi_uint8_array, total, "mask");
  const float* sd = a.typed<float>(3, napi_float32_array, s.N * s.C, "sd");
  const float* style = a.typed<float>(4, napi_float32_array, s.N * 2 * s.C, "style");
  const float* noise = a.typed<float>(5, napi_float32_array, s.noiseBatch * s.M(), "noise");
  float* dx = a.typed<float>(6, napi_float32_array, total, "dx");
  float* dnw = a.typed<float>(7, napi_float32_array, s.C, "dnw");
  float* db = a.typed<float>(8, napi_float32_array, s.C, "db");
  float* dstyle = a.typed<float>(9, napi_float32_array, s.N * 2 * s.C, "dstyle");
  if (a.failed) return nullptr;
  style_epilogue_backward(s, dy, normed, mask, sd, style, noise, dx, dnw, db, dstyle);
  return undefined(env);
}

// The params Int32Array: [N, H*W, C] (kInstanceStatsLayout).
bool stats_shape(Args& a, size_t i, int64_t* N, int64_t* M, int64_t* C) {
  const int32_t* p = params(a, i, kInstanceStatsLayout);
  if (!p) return false;
  *N = p[0], *M = p[1], *C = p[2];
  if (*N < 1 || *M < 1 || *C < 1) {
    a.fail("params: bad shape");
    return false;
  }
  return true;
}

// instanceStats(x, normed, stats [N, 2C], params [N, H*W, C], eps)
napi_value InstanceStats(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(5)) return nullptr;
  int64_t N = 0, M = 0, C = 0;
  if (!stats_shape(a, 3, &N, &M, &C)) return nullptr;
  const float* x = a.typed<float>(0, napi_float32_array, N * M * C, "x");
  float* normed = a.typed<float>(1, napi_float32_array, N * M * C, "normed");
  float* stats = a.typed<float>(2, napi_float32_array, N * 2 * C, "stats");
  const double eps = a.number(4, "eps");
  if (a.failed) return nullptr;
  instance_stats_forward(N, M, C, x, float(eps), normed, stats);
  return undefined(env);
}

// instanceStatsGrad(dnormed, dstats, normed, stats, dx, params [N, H*W, C], eps)
napi_value InstanceStatsGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(7)) return nullptr;
  int64_t N = 0, M = 0, C = 0;
  if (!stats_shape(a, 5, &N, &M, &C)) return nullptr;
  const float* gn = a.typed<float>(0, napi_float32_array, N * M * C, "dnormed");
  const float* gstats = a.typed<float>(1, napi_float32_array, N * 2 * C, "dstats");
  const float* normed = a.typed<float>(2, napi_float32_array, N * M * C, "normed");
  const float* stats = a.typed<float>(3, napi_float32_array, N * 2 * C, "stats");
  float* dx = a.typed<float>(4, napi_float32_array, N * M * C, "dx");
  const double eps = a.number(6, "eps");
  if (a.failed) return nullptr;
  instance_stats_backward(N, M, C, gn, gstats, normed, stats, double(float(eps)), dx);
  return undefined(env);
}

// leakyForward(x, value)
napi_value LeakyForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(2)) return nullptr;
  size_t n = 0, nv = 0;
  const float* x = a.f32(0, &n, "x");
  float* value = a.f32(1, &nv, "value");
  if (a.failed || !a.enough(nv, int64_t(n), "value")) return nullptr;
  leaky_twice(x, value, int64_t(n));
  return undefined(env);
}

// leakyGrad(dy, y, dx)
napi_value LeakyGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(3)) return nullptr;
  size_t n = 0, ny = 0, nx = 0;
  const float* dy = a.f32(0, &n, "dy");
  const float* y = a.f32(1, &ny, "y");
  float* dx = a.f32(2, &nx, "dx");
  if (a.failed || !a.enough(ny, int64_t(n), "y") || !a.enough(nx, int64_t(n), "dx")) return nullptr;
  leaky_grad(dy, y, dx, int64_t(n));
  return undefined(env);
}

}  // namespace

void register_fused(napi_env env, napi_value exports) {
  export_functions(env, exports, {
      {"styleEpilogue", StyleEpilogue}, {"styleEpilogueGrad", StyleEpilogueGrad},
      {"instanceStats", InstanceStats}, {"instanceStatsGrad", InstanceStatsGrad},
      {"leakyForward", LeakyForward}, {"leakyGrad", LeakyGrad},
  });
}

}  // namespace alae
