// 2x2 average pooling (any window, no padding), its gradient for
// non-overlapping windows, and nearest 2x up-sampling.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ew_common.h"

namespace alae {

// Average pooling, no padding: every window lies inside the image.
void avg_pool(const PoolShape& s, const float* x, float* y) {
  const int64_t C = s.C;
  const double count = double(s.fh * s.fw);
  run_chunks(s.N * s.Ho, s.Wo * C * s.fh * s.fw, [&](int64_t r0, int64_t r1) {
    std::vector<double> acc(static_cast<size_t>(C));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t nb = r / s.Ho, oy = r % s.Ho;
      for (int64_t ox = 0; ox < s.Wo; ++ox) {
        std::fill(acc.begin(), acc.end(), 0.0);
        double* __restrict a = acc.data();
        for (int64_t i = 0; i < s.fh; ++i)
          for (int64_t j = 0; j < s.fw; ++j) {
            const float* __restrict px = x + ((nb * s.H + oy * s.sh + i) * s.W + ox * s.sw + j) * C;
            for (int64_t c = 0; c < C; ++c) a[c] += double(px[c]);
          }
        float* __restrict py = y + ((nb * s.Ho + oy) * s.Wo + ox) * C;
        for (int64_t c = 0; c < C; ++c) py[c] = float(a[c] / count);
      }
    }
  });
}

// Its gradient for non-overlapping windows (stride = window): each input
// pixel in a window gets dy / count; pixels no window covers get 0.
void avg_pool_grad(const PoolShape& s, const float* dy, float* dx) {
  const int64_t C = s.C;
  const double mult = 1.0 / double(s.fh * s.fw);
  run_chunks(s.N * s.H, s.W * C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t nb = r / s.H, y = r % s.H, oy = y / s.sh;
      float* __restrict pd = dx + r * s.W * C;
      if (oy >= s.Ho) {
        std::memset(pd, 0, size_t(s.W * C) * sizeof(float));
        continue;
      }
      for (int64_t x = 0; x < s.W; ++x) {
        const int64_t ox = x / s.sw;
        float* __restrict q = pd + x * C;
        if (ox >= s.Wo) {
          std::memset(q, 0, size_t(C) * sizeof(float));
          continue;
        }
        const float* __restrict g = dy + ((nb * s.Ho + oy) * s.Wo + ox) * C;
        for (int64_t c = 0; c < C; ++c) q[c] = float(double(g[c]) * mult);
      }
    }
  });
}

// Nearest-neighbour 2x up-sampling, NHWC (tfjs ResizeNearestNeighbor with
// align_corners and half_pixel_centers off, at exactly twice the size: its
// source row and column are floor(y / 2), floor(x / 2)). A copy, so exact.
void upsample2x(int64_t N, int64_t H, int64_t W, int64_t C, const float* x, float* y) {
  const int64_t Wo = 2 * W;
  run_chunks(N * H, 4 * W * C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* __restrict src = x + r * W * C;
      float* __restrict row = y + 2 * r * Wo * C;  // output rows 2r and 2r + 1 of image r / H
      for (int64_t j = 0; j < W; ++j) {
        std::memcpy(row + (2 * j) * C, src + j * C, size_t(C) * sizeof(float));
        std::memcpy(row + (2 * j + 1) * C, src + j * C, size_t(C) * sizeof(float));
      }
      std::memcpy(row + Wo * C, row, size_t(Wo * C) * sizeof(float));
    }
  });
}

}  // namespace alae
