// Plain and batched matrix products on the packed GEMM (gemm.h).
#include "matmul.h"

#include <algorithm>
#include <atomic>

#include "gemm.h"

namespace alae {

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

}  // namespace alae
