// Matrix products (matmul.cc). All return false on allocation failure
// (nothing is thrown: the addon is built without exceptions).
#pragma once

#include <cstdint>

namespace alae {

// C[M,N] (+)= op(A) * op(B); op(A) is M x K (A stored K x M when transA).
bool sgemm(bool transA, bool transB, int M, int N, int K, const float* A, const float* B, float* C, bool accumulate);

// out[i] = op(A[aIdx[i]]) * op(B[bIdx[i]]) for i < batch, each matrix dense.
bool batch_matmul(int batch, const int32_t* aIdx, const int32_t* bIdx, bool transA, bool transB, int M, int N, int K,
                  const float* A, const float* B, float* out);

}  // namespace alae
