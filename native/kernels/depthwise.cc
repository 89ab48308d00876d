// Depthwise convolution at stride 1 (the blur) as a sum of shifted taps,
// which also gives its input gradient (the taps mirrored), and its filter
// gradient; both accumulated in double and rounded once.
#include <cstdint>
#include <vector>

#include "ew_common.h"

namespace alae {
namespace {

// dst[n,y,x,c] = sum_k src[n, y+dy_k, x+dx_k, c] * w[k*C + c] over the taps
// inside the source, in double, rounded once. Channels go in blocks of 8
// whose sums stay in registers across the taps.
ALAE_EW_CLONES void depthwise_rows(const DwShape& s, const float* src, const double* wd, float* dst, int64_t r0,
                                   int64_t r1) {
  const int64_t C = s.C, C8 = C & ~int64_t{7};
  std::vector<const float*> tp(static_cast<size_t>(s.ntaps));
  std::vector<const double*> wp(static_cast<size_t>(s.ntaps));
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t nb = r / s.Hd, y = r % s.Hd;
    for (int64_t x = 0; x < s.Wd; ++x) {
      // The taps inside the source for this pixel.
      int nv = 0;
      for (int k = 0; k < s.ntaps; ++k) {
        const int64_t sy = y + s.off[2 * k], sx = x + s.off[2 * k + 1];
        if (sy >= 0 && sy < s.Hs && sx >= 0 && sx < s.Ws) {
          tp[size_t(nv)] = src + ((nb * s.Hs + sy) * s.Ws + sx) * C;
          wp[size_t(nv)] = wd + int64_t(k) * C;
          ++nv;
        }
      }
      float* __restrict pd = dst + ((nb * s.Hd + y) * s.Wd + x) * C;
      for (int64_t c0 = 0; c0 < C8; c0 += 8) {
        double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int q = 0; q < nv; ++q) {
          const float* __restrict ps = tp[size_t(q)] + c0;
          const double* __restrict pw = wp[size_t(q)] + c0;
          for (int j = 0; j < 8; ++j) a[j] += double(ps[j]) * pw[j];
        }
        for (int j = 0; j < 8; ++j) pd[c0 + j] = float(a[j]);
      }
      for (int64_t c = C8; c < C; ++c) {
        double a = 0;
        for (int q = 0; q < nv; ++q) a += double(tp[size_t(q)][c]) * wp[size_t(q)][c];
        pd[c] = float(a);
      }
    }
  }
}

}  // namespace

void depthwise_taps(const DwShape& s, const float* src, const float* w, float* dst) {
  std::vector<double> wd(static_cast<size_t>(int64_t(s.ntaps) * s.C));  // the filter in double, once
  for (size_t i = 0; i < wd.size(); ++i) wd[i] = double(w[i]);
  run_chunks(s.N * s.Hd, s.Wd * s.C * s.ntaps,
             [&](int64_t r0, int64_t r1) { depthwise_rows(s, src, wd.data(), dst, r0, r1); });
}

// dw[k*C + c] = sum_{n,y,x} src[n, y+dy_k, x+dx_k, c] * dy[n,y,x,c] (dy over
// the destination grid), in double; chunks of rows added in order.
void depthwise_filter(const DwShape& s, const float* src, const float* dy, float* dw) {
  const int64_t C = s.C, T = s.ntaps, rowsAll = s.N * s.Hd;
  int64_t rows = kChunk / (s.Wd * C * T > 0 ? s.Wd * C * T : 1);
  if (rows < 1) rows = 1;
  const int64_t nch = (rowsAll + rows - 1) / rows;
  std::vector<double> part(static_cast<size_t>(nch * T * C), 0.0);
  run_chunks(nch, rows * s.Wd * C * T, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      double* __restrict acc = part.data() + ch * T * C;
      const int64_t rEnd = (ch + 1) * rows < rowsAll ? (ch + 1) * rows : rowsAll;
      for (int64_t r = ch * rows; r < rEnd; ++r) {
        const int64_t nb = r / s.Hd, y = r % s.Hd;
        for (int64_t x = 0; x < s.Wd; ++x) {
          const float* __restrict pg = dy + ((nb * s.Hd + y) * s.Wd + x) * C;
          for (int k = 0; k < T; ++k) {
            const int64_t sy = y + s.off[2 * k], sx = x + s.off[2 * k + 1];
            if (sy < 0 || sy >= s.Hs || sx < 0 || sx >= s.Ws) continue;
            const float* __restrict ps = src + ((nb * s.Hs + sy) * s.Ws + sx) * C;
            double* __restrict a = acc + k * C;
            for (int64_t c = 0; c < C; ++c) a[c] += double(ps[c]) * double(pg[c]);
          }
        }
      }
    }
  });
  for (int64_t i = 0; i < T * C; ++i) {
    double t = 0;
    for (int64_t ch = 0; ch < nch; ++ch) t += part[size_t(ch * T * C + i)];
    dw[i] = float(t);
  }
}

}  // namespace alae
