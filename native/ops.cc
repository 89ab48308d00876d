#include "ops.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "gemm.h"

namespace alae {

Workspace& workspace() {
  struct Owned {
    Workspace ws;
    Owned() {
      ws.a = aligned_floats(static_cast<size_t>(MC) * KC + 64);
      ws.b = aligned_floats(static_cast<size_t>(KC) * NC + 64);
    }
    ~Owned() {
      free_floats(ws.a);
      free_floats(ws.b);
    }
  };
  thread_local Owned owned;
  return owned.ws;
}

WorkspaceD& workspace_d() {
  struct Owned {
    WorkspaceD ws;
    Owned() {
      ws.a = aligned_doubles(static_cast<size_t>(MC_D) * KC_D + 64);
      ws.b = aligned_doubles(static_cast<size_t>(KC_D) * NR + 64);
      ws.c = aligned_doubles(static_cast<size_t>(MC_D) * NC_D + 64);
    }
    ~Owned() {
      free_doubles(ws.a);
      free_doubles(ws.b);
      free_doubles(ws.c);
    }
  };
  thread_local Owned owned;
  return owned.ws;
}

namespace {

bool workspace_ok() {
  Workspace& ws = workspace();
  return ws.a && ws.b;
}

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

bool sgemm(bool transA, bool transB, int M, int N, int K, const float* A, const float* B, float* C, bool accumulate) {
  if (!workspace_ok()) return false;
  PackAMatrix pa{A, transA ? M : K, M, transA};
  PackBMatrix pb{B, transB ? K : N, N, transB};
  auto row = [C, N](int i) { return C + static_cast<size_t>(i) * N; };
  return gemm(M, N, K, pa, pb, row, accumulate);
}

bool batch_matmul(int batch, const int32_t* aIdx, const int32_t* bIdx, bool transA, bool transB, int M, int N, int K,
                  const float* A, const float* B, float* out) {
  if (!workspace_ok()) return false;
  const size_t sa = static_cast<size_t>(M) * K, sb = static_cast<size_t>(K) * N, so = static_cast<size_t>(M) * N;
  const double flops = 2.0 * M * N * K;
  const int T = num_threads();
  std::atomic<bool> ok{true};
  if (batch >= T && flops < 4.0e7) {
    // Many small products: one thread per matrix (nested regions run serially).
    const int chunks = std::min(batch, T * 4);
    parallel_for(chunks, [&](int c) {
      const int b0 = static_cast<int>(static_cast<long long>(batch) * c / chunks);
      const int b1 = static_cast<int>(static_cast<long long>(batch) * (c + 1) / chunks);
      if (!workspace_ok()) {
        ok.store(false);
        return;
      }
      for (int i = b0; i < b1; ++i)
        sgemm(transA, transB, M, N, K, A + sa * aIdx[i], B + sb * bIdx[i], out + so * i, false);
    });
    return ok.load();
  }
  for (int i = 0; i < batch; ++i)
    if (!sgemm(transA, transB, M, N, K, A + sa * aIdx[i], B + sb * bIdx[i], out + so * i, false)) return false;
  return true;
}

// y[b,oy,ox,:] = sum_{ky,kx,ci} x[b, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw, ci] w[ky,kx,ci,:]
// GEMM: rows = output pixels, depth = (ky,kx,ci), columns = outC; B is the
// filter itself (HWIO is already [kH*kW*inC, outC] row-major).
// By default every output is accumulated in double and rounded once (as
// tfjs's cpu backend does in JS numbers): the float32 GEMM's rounding moves
// pre-activations near zero across the leaky-ReLU kink, which training
// gradients compared with a float64 reference notice. conv_fp32() (env
// ALAE_NATIVE_CONV_FP32=1) selects the float32 GEMM, about twice as fast.
bool conv2d(const ConvShape& s, const float* x, const float* w, float* y) {
  if (!workspace_ok()) return false;
  std::vector<int> tapY(s.kH), tapX(s.kW);
  for (int i = 0; i < s.kH; ++i) tapY[i] = i * s.dilH - s.padTop;
  for (int i = 0; i < s.kW; ++i) tapX[i] = i * s.dilW - s.padLeft;
  const int M = s.batch * s.outH * s.outW, N = s.outC, K = s.kH * s.kW * s.inC;
  PackAImage pa{x, s.inH, s.inW, s.inC, s.outH, s.outW, s.strideH, s.strideW, tapY.data(), tapX.data(), s.kW, M};
  auto row = [y, N](int i) { return y + static_cast<size_t>(i) * N; };
  if (conv_fp32() || M <= 0 || N <= 0 || K <= 0) {
    PackBMatrix pb{w, N, N, false};
    return gemm(M, N, K, pa, pb, row, false, Split::M);
  }
  // Precise path: dot products accumulated in double, one rounding per output.
  return gemm_d(M, N, K, pa, PackBMatrixD{w, N}, row, Split::M);
}

// dx[b,iy,ix,ci] = sum over (ky,kx) with oy = (iy + pt - ky*dh)/sh integral
// (and ox likewise) of dy[b,oy,ox,:] . w[ky,kx,ci,:].
// The input pixels split into strideH x strideW phases (iy mod sh, ix mod sw);
// within a phase the contributing taps are fixed and oy = a + offset(ky) for
// iy = py + sh*a, so each phase is one implicit-im2col GEMM over dy with a
// transposed filter, writing its rows of dx directly (no scatter, no atomics).
bool conv2d_backprop_input(const ConvShape& s, const float* dy, const float* w, float* dx) {
  if (!workspace_ok()) return false;
  const int C = s.inC, OC = s.outC;
  // wt[ky][kx][co][ci] = w[ky][kx][ci][co]
  const size_t taps = static_cast<size_t>(s.kH) * s.kW;
  float* wt = aligned_floats(taps * C * OC);
  if (!wt) return false;
  parallel_for(static_cast<int>(taps), [&](int t) {
    const float* src = w + static_cast<size_t>(t) * C * OC;
    float* dst = wt + static_cast<size_t>(t) * C * OC;
    for (int ci = 0; ci < C; ++ci)
      for (int co = 0; co < OC; ++co) dst[static_cast<size_t>(co) * C + ci] = src[static_cast<size_t>(ci) * OC + co];
  });
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
      auto brow = [&](int k) {
        const int tap = k / OC, co = k - tap * OC;
        const int ty = tap / NTX, tx = tap - ty * NTX;
        return wt + ((static_cast<size_t>(kys[ty]) * s.kW + kxs[tx]) * OC + co) * C;
      };
      PackBRows<decltype(brow)> pb{brow, N};
      ok = gemm(M, N, K, pa, pb, row, false, Split::M);
    }
  }
  free_floats(wt);
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
// (im2col) is the B operand, packed in contiguous channel runs, and threads
// split its columns so no thread repeats another's gather.
bool conv2d_backprop_filter(const ConvShape& s, const float* x, const float* dy, float* dw) {
  if (!workspace_ok()) return false;
  const int M = s.outC, N = s.kH * s.kW * s.inC, K = s.batch * s.outH * s.outW;
  float* dwt = aligned_floats(static_cast<size_t>(M) * N);
  if (!dwt) return false;
  PackADyT pa{dy, s.outC};
  PackBIm2col pb{&s, x, N};
  auto row = [dwt, N](int i) { return dwt + static_cast<size_t>(i) * N; };
  const bool ok = gemm(M, N, K, pa, pb, row, false, Split::N);
  if (ok) {
    // dw[n][co] = dwt[co][n]
    parallel_for(std::min(N, num_threads()), [&](int t) {
      const int T = std::min(N, num_threads());
      const int n0 = static_cast<int>(static_cast<long long>(N) * t / T), n1 = static_cast<int>(static_cast<long long>(N) * (t + 1) / T);
      for (int n = n0; n < n1; ++n)
        for (int co = 0; co < M; ++co) dw[static_cast<size_t>(n) * M + co] = dwt[static_cast<size_t>(co) * N + n];
    });
  }
  free_floats(dwt);
  return ok;
}

}  // namespace alae
