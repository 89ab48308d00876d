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
  const int32_t* p = params(a, i, kStyleEpilogueLayout, 1);
  if (p) *s = StyleEpilogueShape{p[0], p[1], p[2], p[3], p[4]};
  return p && a.check(s->noiseBatch == 1 || s->noiseBatch == s->N, "params: noiseBatch must be 1 or N");
}

// styleEpilogue(x, noise, nw, bias, style, out, normed, mask, sd, params, eps)
void StyleEpilogue(Args& a) {
  StyleEpilogueShape s;
  if (!style_shape(a, 9, &s)) return;
  const int64_t total = s.N * s.M() * s.C;
  const float *x = nullptr, *noise = nullptr, *nw = nullptr, *bias = nullptr, *style = nullptr;
  float *out = nullptr, *normed = nullptr, *sd = nullptr;
  uint8_t* mask = nullptr;
  const double eps = a.number(10, "eps");
  if (a.arrays(arg(0, &x, "x", total), arg(1, &noise, "noise", s.noiseBatch * s.M()), arg(2, &nw, "noise weight", s.C),
               arg(3, &bias, "bias", s.C), arg(4, &style, "style", s.N * 2 * s.C), arg(5, &out, "out", total),
               arg(6, &normed, "normed", total), arg(7, &mask, "mask", total), arg(8, &sd, "sd", s.N * s.C)))
    style_epilogue_forward(s, x, noise, nw, bias, style, float(eps), out, normed, mask, sd);
}

// styleEpilogueGrad(dy, normed, mask, sd, style, noise, dx, dnw, db, dstyle, params)
void StyleEpilogueGrad(Args& a) {
  StyleEpilogueShape s;
  if (!style_shape(a, 10, &s)) return;
  const int64_t total = s.N * s.M() * s.C;
  const float *dy = nullptr, *normed = nullptr, *sd = nullptr, *style = nullptr, *noise = nullptr;
  const uint8_t* mask = nullptr;
  float *dx = nullptr, *dnw = nullptr, *db = nullptr, *dstyle = nullptr;
  if (a.arrays(arg(0, &dy, "dy", total), arg(1, &normed, "normed", total), arg(2, &mask, "mask", total),
               arg(3, &sd, "sd", s.N * s.C), arg(4, &style, "style", s.N * 2 * s.C),
               arg(5, &noise, "noise", s.noiseBatch * s.M()), arg(6, &dx, "dx", total), arg(7, &dnw, "dnw", s.C),
               arg(8, &db, "db", s.C), arg(9, &dstyle, "dstyle", s.N * 2 * s.C)))
    style_epilogue_backward(s, dy, normed, mask, sd, style, noise, dx, dnw, db, dstyle);
}

// instanceStats(x, normed, stats [N, 2C], params [N, H*W, C], eps)
void InstanceStats(Args& a) {
  const int32_t* p = params(a, 3, kInstanceStatsLayout, 1);
  if (!p) return;
  const int64_t N = p[0], M = p[1], C = p[2];
  const float* x = nullptr;
  float *normed = nullptr, *stats = nullptr;
  const double eps = a.number(4, "eps");
  if (a.arrays(arg(0, &x, "x", N * M * C), arg(1, &normed, "normed", N * M * C), arg(2, &stats, "stats", N * 2 * C)))
    instance_stats_forward(N, M, C, x, float(eps), normed, stats);
}

// instanceStatsGrad(dnormed, dstats, normed, stats, dx, params [N, H*W, C], eps)
void InstanceStatsGrad(Args& a) {
  const int32_t* p = params(a, 5, kInstanceStatsLayout, 1);
  if (!p) return;
  const int64_t N = p[0], M = p[1], C = p[2];
  const float *gn = nullptr, *gstats = nullptr, *normed = nullptr, *stats = nullptr;
  float* dx = nullptr;
  const double eps = a.number(6, "eps");
  if (a.arrays(arg(0, &gn, "dnormed", N * M * C), arg(1, &gstats, "dstats", N * 2 * C), arg(2, &normed, "normed", N * M * C),
               arg(3, &stats, "stats", N * 2 * C), arg(4, &dx, "dx", N * M * C)))
    instance_stats_backward(N, M, C, gn, gstats, normed, stats, double(float(eps)), dx);
}

// leakyForward(x, value)
void LeakyForward(Args& a) {
  size_t n = 0;
  const float* x = a.typed_len<float>(0, &n, "x");
  float* value = a.typed<float>(1, int64_t(n), "value");
  if (!a.failed) leaky_twice(x, value, int64_t(n));
}

// leakyGrad(dy, y, dx)
void LeakyGrad(Args& a) {
  size_t n = 0;
  const float* dy = a.typed_len<float>(0, &n, "dy");
  const float* y = nullptr;
  float* dx = nullptr;
  if (a.arrays(arg(1, &y, "y", int64_t(n)), arg(2, &dx, "dx", int64_t(n)))) leaky_grad(dy, y, dx, int64_t(n));
}

}  // namespace

void register_fused(napi_env env, napi_value exports) {
  export_functions(env, exports, {
      {"styleEpilogue", entry<11, StyleEpilogue>}, {"styleEpilogueGrad", entry<11, StyleEpilogueGrad>},
      {"instanceStats", entry<5, InstanceStats>}, {"instanceStatsGrad", entry<7, InstanceStatsGrad>},
      {"leakyForward", entry<2, LeakyForward>}, {"leakyGrad", entry<3, LeakyGrad>},
  });
}

}  // namespace alae
