// Entry points used by the N-API layer. All return false on allocation
// failure (nothing is thrown: the addon is built without exceptions).
#pragma once

#include <cstdint>

namespace alae {

// C[M,N] (+)= op(A) * op(B); op(A) is M x K (A stored K x M when transA).
bool sgemm(bool transA, bool transB, int M, int N, int K, const float* A, const float* B, float* C, bool accumulate);

// out[i] = op(A[aIdx[i]]) * op(B[bIdx[i]]) for i < batch, each matrix dense.
bool batch_matmul(int batch, const int32_t* aIdx, const int32_t* bIdx, bool transA, bool transB, int M, int N, int K,
                  const float* A, const float* B, float* out);

struct ConvShape {
  int batch, inH, inW, inC;    // x / dx: NHWC
  int outH, outW, outC;        // y / dy: NHWC
  int kH, kW;                  // filter: HWIO [kH, kW, inC, outC]
  int strideH, strideW;
  int dilH, dilW;
  int padTop, padLeft;
};

// Accumulates in double and rounds once, unless conv_fp32() (common.h).
bool conv2d(const ConvShape& s, const float* x, const float* w, float* y);
bool conv2d_backprop_input(const ConvShape& s, const float* dy, const float* w, float* dx);
bool conv2d_backprop_filter(const ConvShape& s, const float* x, const float* dy, float* dw);

}  // namespace alae
