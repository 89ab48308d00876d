// The convolutions as implicit-im2col GEMMs (gemm.h): Conv2D (float32 or
// double accumulation), Conv2DBackpropInput and Conv2DBackpropFilter.
#include "conv.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "gemm.h"

namespace alae {

namespace {

// Implicit im2col over an NHWC image: row m = (b, gy, gx) of a GH x GW grid,
// depth k = (ty, tx, c) over NTY x NTX taps and SC channels. The pixel read is
// (gy*gsy + tapY[ty], gx*gsx + tapX[tx]); outside the image it reads zero.
struct PackAImage {
  const float* src;
  int SH, SW, SC;
  int GH, GW, gsy, gsx;
  const int* tapY;
  const int* tapX;
  int NTX;
  int M;
  void operator()(int i0, int mc, int k0, int kc, float* dst) const {
    const int iend = std::min(M, i0 + mc);
    const Interleave il = simd().interleave6;
    const int grid = GH * GW;
    const size_t img = static_cast<size_t>(SH) * SW * SC;
    for (int p = i0; p < i0 + mc; p += MR, dst += static_cast<size_t>(kc) * MR) {
      const float* base[MR];
      int by[MR] = {}, bx[MR] = {};
      for (int r = 0; r < MR; ++r) {
        const int m = p + r;
        if (m < iend) {
          const int b = m / grid, rem = m - b * grid, gy = rem / GW, gx = rem - gy * GW;
          base[r] = src + img * b;
          by[r] = gy * gsy;
          bx[r] = gx * gsx;
        } else {
          base[r] = nullptr;
        }
      }
      int tap = k0 / SC, c = k0 - tap * SC;
      for (int k = 0; k < kc; ++tap, c = 0) {
        const int run = std::min(SC - c, kc - k);
        const int ty = tap / NTX, tx = tap - ty * NTX;
        const int oy = tapY[ty], ox = tapX[tx];
        const float* s[MR];
        for (int r = 0; r < MR; ++r) {
          const int y = by[r] + oy, x = bx[r] + ox;
          s[r] = base[r] && static_cast<unsigned>(y) < static_cast<unsigned>(SH) &&
                         static_cast<unsigned>(x) < static_cast<unsigned>(SW)
                     ? base[r] + (static_cast<size_t>(y) * SW + x) * SC + c
                     : zeros();
        }
        il(s, run, dst + static_cast<size_t>(k) * MR);
        k += run;
      }
    }
  }
};

}  // namespace

// y[b,oy,ox,:] = sum_{ky,kx,ci} x[b, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw, ci] w[ky,kx,ci,:]
// GEMM: rows = output pixels, depth = (ky,kx,ci), columns = outC; B is the
// filter itself (HWIO is already [kH*kW*inC, outC] row-major).
// precise: every output is accumulated in double and rounded once; the
// float32 GEMM's rounding moves pre-activations near zero across the
// leaky-ReLU kink, which training gradients compared with a float64
// reference notice (native/README.md). Otherwise the float32 GEMM, about
// twice as fast.
bool conv2d(const ConvShape& s, const float* x, const float* w, float* y, bool precise) {
  if (!workspace_ok()) return false;
  std::vector<int> tapY(s.kH), tapX(s.kW);
  for (int i = 0; i < s.kH; ++i) tapY[i] = i * s.dilH - s.padTop;
  for (int i = 0; i < s.kW; ++i) tapX[i] = i * s.dilW - s.padLeft;
  const int M = s.batch * s.outH * s.outW, N = s.outC, K = s.kH * s.kW * s.inC;
  PackAImage pa{x, s.inH, s.inW, s.inC, s.outH, s.outW, s.strideH, s.strideW, tapY.data(), tapX.data(), s.kW, M};
  auto row = [y, N](int i) { return y + static_cast<size_t>(i) * N; };
  if (!precise || M <= 0 || N <= 0 || K <= 0) {
    PackBMatrix pb{w, N, N, false};
    return gemm(M, N, K, pa, pb, row, false, Split::M);
  }
  // Precise path: dot products accumulated in double, one rounding per output.
  return gemm_d(M, N, K, pa, PackBMatrixD{w, N}, row, Split::M);
}

namespace {

// The filter as Conv2DBackpropInput's B operand, packed straight from HWIO:
// B[(tap, co)][ci] = w[ky(tap)][kx(tap)][ci][co] over the phase's taps. A
// panel of NR input channels is NR filter rows, interleaved in runs of output
// channels that stay within one tap.
struct PackBFilterT {
  const float* w;
  int C, OC, kW;
  const int* kys;
  const int* kxs;
  int NTX;
  void operator()(int k0, int kc, int j0, int nc, float* dst) const {
    const Interleave il = simd().interleave16;
    const int jend = std::min(C, j0 + nc);
    for (int p = j0; p < j0 + nc; p += NR, dst += static_cast<size_t>(kc) * NR) {
      const int cols = std::max(0, std::min(NR, jend - p));
      int tap = k0 / OC, co = k0 - tap * OC;
      for (int k = 0; k < kc; ++tap, co = 0) {
        const int run = std::min(OC - co, kc - k);
        const int ty = tap / NTX, tx = tap - ty * NTX;
        const float* base = w + (static_cast<size_t>(kys[ty]) * kW + kxs[tx]) * C * OC + co;
        const float* src[NR];
        for (int r = 0; r < NR; ++r) src[r] = r < cols ? base + static_cast<size_t>(p + r) * OC : zeros();
        il(src, run, dst + static_cast<size_t>(k) * NR);
        k += run;
      }
    }
  }
};

}  // namespace

// dx[b,iy,ix,ci] = sum over (ky,kx) with oy = (iy + pt - ky*dh)/sh integral
// (and ox likewise) of dy[b,oy,ox,:] . w[ky,kx,ci,:].
// The input pixels split into strideH x strideW phases (iy mod sh, ix mod sw);
// within a phase the contributing taps are fixed and oy = a + offset(ky) for
// iy = py + sh*a, so each phase is one implicit-im2col GEMM over dy with the
// transposed filter, writing its rows of dx directly (no scatter, no atomics).
bool conv2d_backprop_input(const ConvShape& s, const float* dy, const float* w, float* dx) {
  if (!workspace_ok()) return false;
  const int C = s.inC, OC = s.outC;
  auto floordiv_exact = [](int a, int b, int* q) {
    int r = a % b;
    if (r < 0) r += b;
    if (r != 0) return false;
    *q = (a - r) / b;
    return true;
  };
  bool ok = true;
  for (int py = 0; py < s.strideH && py < s.inH && ok; ++py) {
    for (int px = 0; px < s.strideW && px < s.inW && ok; ++px) {
      const int GH = (s.inH - py + s.strideH - 1) / s.strideH, GW = (s.inW - px + s.strideW - 1) / s.strideW;
      std::vector<int> kys, offY, kxs, offX;
      for (int ky = 0; ky < s.kH; ++ky) {
        int q;
        if (floordiv_exact(py + s.padTop - ky * s.dilH, s.strideH, &q)) {
          kys.push_back(ky);
          offY.push_back(q);
        }
      }
      for (int kx = 0; kx < s.kW; ++kx) {
        int q;
        if (floordiv_exact(px + s.padLeft - kx * s.dilW, s.strideW, &q)) {
          kxs.push_back(kx);
          offX.push_back(q);
        }
      }
      const int M = s.batch * GH * GW, N = C;
      const int NTY = static_cast<int>(kys.size()), NTX = static_cast<int>(kxs.size());
      const int K = NTY * NTX * OC;
      const int grid = GH * GW;
      auto row = [&](int m) {
        const int b = m / grid, rem = m - b * grid, a = rem / GW, c = rem - a * GW;
        return dx + ((static_cast<size_t>(b) * s.inH + py + static_cast<size_t>(s.strideH) * a) * s.inW + px +
                     static_cast<size_t>(s.strideW) * c) *
                        C;
      };
      if (K == 0) {  // no tap reaches these pixels
        for (int m = 0; m < M; ++m) std::memset(row(m), 0, sizeof(float) * C);
        continue;
      }
      PackAImage pa{dy, s.outH, s.outW, OC, GH, GW, 1, 1, offY.data(), offX.data(), NTX, M};
      PackBFilterT pb{w, C, OC, s.kW, kys.data(), kxs.data(), NTX};
      ok = gemm(M, N, K, pa, pb, row, false, Split::M);
    }
  }
  return ok;
}

namespace {

// dy^T as the A operand: A[co][p] = dy[p*OC + co].
struct PackADyT {
  const float* dy;
  int OC;
  void operator()(int i0, int mc, int k0, int kc, float* dst) const {
    const int iend = std::min(OC, i0 + mc);
    for (int p = i0; p < i0 + mc; p += MR, dst += static_cast<size_t>(kc) * MR) {
      const int rows = std::max(0, std::min(MR, iend - p));
      const float* s = dy + static_cast<size_t>(k0) * OC + p;
      if (rows == MR) {
        for (int k = 0; k < kc; ++k, s += OC) {
          float* d = dst + k * MR;
          d[0] = s[0]; d[1] = s[1]; d[2] = s[2]; d[3] = s[3]; d[4] = s[4]; d[5] = s[5];
        }
      } else {
        for (int k = 0; k < kc; ++k, s += OC) {
          float* d = dst + k * MR;
          int r = 0;
          for (; r < rows; ++r) d[r] = s[r];
          for (; r < MR; ++r) d[r] = 0.f;
        }
      }
    }
  }
};

inline void copy_run(float* __restrict d, const float* __restrict src, int len) {
  if (len == NR) {
    std::memcpy(d, src, sizeof(float) * NR);  // fixed size: inlined vector moves
  } else {
    for (int i = 0; i < len; ++i) d[i] = src[i];
  }
}

inline void zero_run(float* d, int len) {
  if (len == NR) {
    std::memset(d, 0, sizeof(float) * NR);
  } else {
    for (int i = 0; i < len; ++i) d[i] = 0.f;
  }
}

// im2col as the B operand: B[p][(ky,kx,ci)] = x[b, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw, ci]
// for output pixel p = (b, oy, ox). The columns are cut into segments that
// stay within one tap and one NR panel, so each is a contiguous channel run.
struct PackBIm2col {
  const ConvShape* s;
  const float* x;
  int N;
  void operator()(int k0, int kc, int j0, int nc, float* dst) const {
    const ConvShape& c = *s;
    const int jend = std::min(N, j0 + nc);
    const int C = c.inC;
    const size_t img = static_cast<size_t>(c.inH) * c.inW * C;
    const int opix = c.outH * c.outW;
    struct Seg {
      int off;  // offset of the segment's first column in dst (panel base + column in panel)
      int len, dy, dx, ci;
    };
    std::vector<Seg> segs;
    segs.reserve(static_cast<size_t>(nc / NR + 1) * 2);
    for (int j = j0; j < jend;) {
      const int panel = (j - j0) / NR, in_panel = (j - j0) - panel * NR;
      const int tap = j / C, ci = j - tap * C;
      const int ky = tap / c.kW, kx = tap - ky * c.kW;
      const int len = std::min({jend - j, C - ci, NR - in_panel});
      segs.push_back({panel * kc * NR + in_panel, len, ky * c.dilH - c.padTop, kx * c.dilW - c.padLeft, ci});
      j += len;
    }
    // Zero the padding columns of a partial last panel.
    const int cols_last = (jend - j0) % NR;
    const int npanels = (nc + NR - 1) / NR;
    if (cols_last != 0 || jend - j0 < nc) {
      const int full = (jend - j0) / NR;  // panels completely inside [j0, jend)
      for (int q = full; q < npanels; ++q) {
        const int first = std::max(0, (jend - j0) - q * NR);
        for (int k = 0; k < kc; ++k)
          for (int i = first; i < NR; ++i) dst[static_cast<size_t>(q) * kc * NR + k * NR + i] = 0.f;
      }
    }
    int b = k0 / opix, rem = k0 - b * opix, oy = rem / c.outW, ox = rem - oy * c.outW;
    for (int k = 0; k < kc; ++k) {
      const float* xb = x + img * b;
      const int iy0 = oy * c.strideH, ix0 = ox * c.strideW;
      float* dk = dst + k * NR;
      for (const Seg& sg : segs) {
        const int y = iy0 + sg.dy, xx = ix0 + sg.dx;
        float* d = dk + sg.off;
        if (static_cast<unsigned>(y) < static_cast<unsigned>(c.inH) && static_cast<unsigned>(xx) < static_cast<unsigned>(c.inW)) {
          copy_run(d, xb + (static_cast<size_t>(y) * c.inW + xx) * C + sg.ci, sg.len);
        } else {
          zero_run(d, sg.len);
        }
      }
      if (++ox == c.outW) {
        ox = 0;
        if (++oy == c.outH) {
          oy = 0;
          ++b;
        }
      }
    }
  }
};

}  // namespace

// dw[ky,kx,ci,co] = sum_p x[p shifted by (ky,kx), ci] dy[p, co].
// Computed as dw^T[co][(ky,kx,ci)] = dy^T * im2col(x): the expensive gather
// (im2col) is the B operand, packed in contiguous channel runs.
//
// The reduction runs over every pixel of the batch (K), far longer than the
// output (outC x taps*inC) is wide, so the pixels are split into parts, each
// a GEMM of its own into private partial sums, added in part order: each
// part packs its slice of dy and of im2col once. (Splitting output rows or
// columns across threads instead makes every thread repack the operand of
// the dimension it does not split: twice the minimal packing or more.) The
// parts depend on the shape only, not on the thread count, so neither do the
// results.
bool conv2d_backprop_filter(const ConvShape& s, const float* x, const float* dy, float* dw) {
  if (!workspace_ok()) return false;
  const int M = s.outC, N = s.kH * s.kW * s.inC, K = s.batch * s.outH * s.outW;
  const size_t mn = static_cast<size_t>(M) * N;
  PackADyT pa{dy, s.outC};
  PackBIm2col pb{&s, x, N};
  const int kblocks = (K + KC - 1) / KC;
  // Parts of at least 16 depth blocks; their partial sums stay within 64 MB.
  const int parts = std::max(1, std::min({(kblocks + 15) / 16, 64, static_cast<int>((size_t{64} << 20) / (sizeof(float) * std::max<size_t>(mn, 1)))}));
  Scratch scratch(sizeof(float) * mn * parts);
  float* sums = scratch.floats();  // parts x [M][N]; part 0 ends up with the total
  if (!sums) return false;
  std::atomic<bool> ok{true};
  parallel_for(parts, [&](int t) {
    const int k0 = std::min(K, split_at(kblocks, parts, t, KC, K)), k1 = std::min(K, split_at(kblocks, parts, t + 1, KC, K));
    float* mine = sums + mn * t;
    if (k0 >= k1 || !workspace_ok()) {
      if (k0 < k1) ok.store(false);
      std::memset(mine, 0, sizeof(float) * mn);
      return;
    }
    auto row = [mine, N](int i) { return mine + static_cast<size_t>(i) * N; };
    gemm_range(Range{0, M, 0, N, k0, k1}, pa, pb, row, false);
  });
  if (!ok.load()) return false;
  const int T = num_threads();
  if (parts > 1) {
    const int chunks = static_cast<int>(std::min<size_t>(mn / 4096 + 1, static_cast<size_t>(4 * T)));
    parallel_for(chunks, [&](int c) {
      const size_t i0 = mn * c / chunks, i1 = mn * (c + 1) / chunks;
      for (int t = 1; t < parts; ++t) {
        const float* __restrict p = sums + mn * t;
        float* __restrict acc = sums;
        for (size_t i = i0; i < i1; ++i) acc[i] += p[i];
      }
    });
  }
  // dw[n][co] = sum[co][n]
  parallel_for(std::min(N, T), [&](int t) {
    const int P = std::min(N, T);
    const int n0 = static_cast<int>(static_cast<long long>(N) * t / P), n1 = static_cast<int>(static_cast<long long>(N) * (t + 1) / P);
    for (int n = n0; n < n1; ++n)
      for (int co = 0; co < M; ++co) dw[static_cast<size_t>(n) * M + co] = sums[static_cast<size_t>(co) * N + n];
  });
  return true;
}

}  // namespace alae
