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
#include "runtime.h"
#include "style_epilogue.h"

namespace alae {

void style_epilogue_forward(const StyleEpilogueShape& s, const float* x, const float* noise, const float* nw, const float* bias, const float* style,
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
    for (int64_t j = 0; j < w; ++j) mean[size_t(j)] = float(acc[size_t(j)]);
    // Pass 2: the variance of the centred values (into sdev, then its root).
    centred_variance(normed, base, M, C, c0, c1, me, mean.data(), acc, sdev.data());
    for (int64_t j = 0; j < w; ++j) {
      sdev[size_t(j)] = std::sqrt(sdev[size_t(j)] + epsf);
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

void style_epilogue_backward(const StyleEpilogueShape& s, const float* dy, const float* normed, const uint8_t* mask, const float* sd, const float* style,
              const float* noise, float* dx, float* dnw, float* db, float* dstyle) {
  const int64_t M = s.M(), C = s.C, N = s.N;
  // Per-sample partial sums of db and dnw, added over samples in order at the end (deterministic).
  std::vector<double> pdb(static_cast<size_t>(N * C), 0.0), pdnw(static_cast<size_t>(N * C), 0.0);
  for_channel_tasks(s.N, s.M(), s.C, [&](int64_t n, int64_t c0, int64_t c1) {
    const int64_t w = c1 - c0;
    std::vector<double> sdy(static_cast<size_t>(w)), sdyn(static_cast<size_t>(w));
    const float* nz = noise + (s.noiseBatch == 1 ? 0 : n * M);
    const int64_t base = n * M * C;
    gradient_sums(dy, normed, base, M, C, c0, c1, sdy, sdyn);
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

}  // namespace alae
