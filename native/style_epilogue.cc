// The generator's layer epilogue in one pass over the activations (see
// src/nn/style-epilogue.ts): noise, bias, leaky ReLU, instance norm and style
// modulation of a DecodeBlock (net.py), forward and first-order backward.
// As tfjs ops the forward is ~12 activation-sized kernels and its gradient
// ~25, each a full pass over memory with a fresh output buffer.
//
// Forward, per sample n and channel c over the H*W pixels (NHWC):
//   h = leaky(x + nw[c] * noise[hw] + b[c])        each op rounded to float32
//   mean = sum(h / M), var = sum(((h - mean)^2) / M)   (M = H*W; summed in
//       double and rounded once, as the native Mean kernel)
//   s = sqrt(var + eps); normed = (h - mean) / s
//   out = normed * (style[n, c] + 1) + style[n, C + c]
// The forward repeats the op chain's float32 roundings, so `out` has the
// chain's bits up to the order of a double sum (test/nn/style-epilogue.test.ts).
// Backward (first order; the generator is never differentiated twice):
//   dn = dy * (scale + 1)
//   da = (dn - mean(dn) - normed * mean(dn * normed)) / s
//   dh = h > 0 ? da : 0.2 da          (tfjs's leaky gradient at 0 is alpha)
//   dx = dh; db = sum dh; dnw = sum dh * noise;
//   dstyle[n, c] = sum dy * normed; dstyle[n, C + c] = sum dy
#include "strict_fp.h"  // first: no FMA contraction in what follows

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "channel_stats.h"
#include "common.h"
#include "napi_args.h"
#include "style_epilogue.h"

namespace alae {
namespace {

struct Shape {
  int64_t N, H, W, C, noiseBatch;
  int64_t M() const { return H * W; }
};

void forward(const Shape& s, const float* x, const float* noise, const float* nw, const float* bias, const float* style,
             float eps, float* out, float* normed, uint8_t* mask, float* sd) {
  const int64_t M = s.M(), C = s.C;
  const MeanElem me(M);
  const float epsf = eps;
  for_channel_tasks(s.N, s.M(), s.C, [&](int64_t n, int64_t c0, int64_t c1) {
    const int64_t w = c1 - c0;
    std::vector<double> acc(static_cast<size_t>(w), 0.0);
    std::vector<float> mean(static_cast<size_t>(w)), sdev(static_cast<size_t>(w));
    const float* nz = noise + (s.noiseBatch == 1 ? 0 : n * M);
    const int64_t base = n * M * C;
    // Pass 1: h into `normed` (scratch), the mask, and the mean.
    for (int64_t p = 0; p < M; ++p) {
      const float z = nz[p];
      const int64_t o = base + p * C;
      for (int64_t c = c0; c < c1; ++c) {
        float h = x[o + c] + nw[c] * z;
        h = h + bias[c];
        mask[o + c] = h > 0.0f;
        const float l = float(0.2 * double(h));
        h = h < 0.0f ? l : h;
        normed[o + c] = h;
        acc[size_t(c - c0)] += me(h);
      }
    }
    for (int64_t j = 0; j < w; ++j) mean[size_t(j)] = float(acc[size_t(j)]), acc[size_t(j)] = 0.0;
    // Pass 2: the variance of the centred values.
    for (int64_t p = 0; p < M; ++p) {
      const int64_t o = base + p * C;
      for (int64_t c = c0; c < c1; ++c) {
        const float d = normed[o + c] - mean[size_t(c - c0)];
        acc[size_t(c - c0)] += me(d * d);
      }
    }
    for (int64_t j = 0; j < w; ++j) {
      const float var = float(acc[size_t(j)]);
      sdev[size_t(j)] = std::sqrt(var + epsf);
      sd[n * C + c0 + j] = sdev[size_t(j)];
    }
    // Pass 3: normalise and modulate.
    const float* st = style + n * 2 * C;
    for (int64_t p = 0; p < M; ++p) {
      const int64_t o = base + p * C;
      for (int64_t c = c0; c < c1; ++c) {
        const float v = (normed[o + c] - mean[size_t(c - c0)]) / sdev[size_t(c - c0)];
        normed[o + c] = v;
        out[o + c] = v * (st[c] + 1.0f) + st[C + c];
      }
    }
  });
}

void backward(const Shape& s, const float* dy, const float* normed, const uint8_t* mask, const float* sd, const float* style,
              const float* noise, float* dx, float* dnw, float* db, float* dstyle) {
  const int64_t M = s.M(), C = s.C, N = s.N;
  // Per-sample partial sums of db and dnw, added over samples in order at the end (deterministic).
  std::vector<double> pdb(static_cast<size_t>(N * C), 0.0), pdnw(static_cast<size_t>(N * C), 0.0);
  for_channel_tasks(s.N, s.M(), s.C, [&](int64_t n, int64_t c0, int64_t c1) {
    const int64_t w = c1 - c0;
    std::vector<double> sdy(static_cast<size_t>(w), 0.0), sdyn(static_cast<size_t>(w), 0.0);
    const float* nz = noise + (s.noiseBatch == 1 ? 0 : n * M);
    const int64_t base = n * M * C;
    for (int64_t p = 0; p < M; ++p) {
      const int64_t o = base + p * C;
      for (int64_t c = c0; c < c1; ++c) {
        const double g = dy[o + c];
        sdy[size_t(c - c0)] += g;
        sdyn[size_t(c - c0)] += g * double(normed[o + c]);
      }
    }
    const float* st = style + n * 2 * C;
    std::vector<float> k1(static_cast<size_t>(w)), k2(static_cast<size_t>(w)), k3(static_cast<size_t>(w));
    for (int64_t c = c0; c < c1; ++c) {
      const size_t j = size_t(c - c0);
      const double scale1 = double(st[c]) + 1.0;
      dstyle[n * 2 * C + c] = float(sdyn[j]);
      dstyle[n * 2 * C + C + c] = float(sdy[j]);
      // da = dy * scale1 / s - (scale1 mean(dy)) / s - normed * (scale1 mean(dy normed)) / s
      const double inv = 1.0 / double(sd[n * C + c]);
      k1[j] = float(scale1 * inv);
      k2[j] = float(scale1 * sdy[j] / double(M) * inv);
      k3[j] = float(scale1 * sdyn[j] / double(M) * inv);
    }
    std::vector<double> adb(static_cast<size_t>(w), 0.0), adnw(static_cast<size_t>(w), 0.0);
    for (int64_t p = 0; p < M; ++p) {
      const int64_t o = base + p * C;
      const double z = nz[p];
      for (int64_t c = c0; c < c1; ++c) {
        const size_t j = size_t(c - c0);
        const float da = dy[o + c] * k1[j] - k2[j] - normed[o + c] * k3[j];
        const float dh = mask[o + c] ? da : float(0.2 * double(da));
        dx[o + c] = dh;
        adb[j] += dh;
        adnw[j] += double(dh) * z;
      }
    }
    for (int64_t c = c0; c < c1; ++c) {
      pdb[size_t(n * C + c)] = adb[size_t(c - c0)];
      pdnw[size_t(n * C + c)] = adnw[size_t(c - c0)];
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    double a = 0.0, b = 0.0;
    for (int64_t n = 0; n < N; ++n) a += pdb[size_t(n * C + c)], b += pdnw[size_t(n * C + c)];
    db[c] = float(a);
    dnw[c] = float(b);
  }
}

bool read_shape(Args& a, size_t i, Shape* s) {
  size_t len = 0;
  const int32_t* p = a.i32(i, &len, "params");
  if (!p || !a.enough(len, 5, "params")) return false;
  *s = Shape{p[0], p[1], p[2], p[3], p[4]};
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
  Shape s;
  if (!read_shape(a, 9, &s)) return nullptr;
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
  forward(s, x, noise, nw, bias, style, float(eps), out, normed, mask, sd);
  return undefined(env);
}

// styleEpilogueGrad(dy, normed, mask, sd, style, noise, dx, dnw, db, dstyle, params)
napi_value StyleEpilogueGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(11)) return nullptr;
  Shape s;
  if (!read_shape(a, 10, &s)) return nullptr;
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
  backward(s, dy, normed, mask, sd, style, noise, dx, dnw, db, dstyle);
  return undefined(env);
}

}  // namespace

void register_style_epilogue(napi_env env, napi_value exports) {
  export_functions(env, exports, {{"styleEpilogue", StyleEpilogue}, {"styleEpilogueGrad", StyleEpilogueGrad}});
}

}  // namespace alae
