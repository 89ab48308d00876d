// gemm and batchMatMul (kernels/matmul.h).
#include "../kernels/matmul.h"

#include <cstdint>
#include <initializer_list>

#include "args.h"
#include "bindings.h"

namespace alae {
namespace {

constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;

bool dims_ok(Args& a, std::initializer_list<int64_t> dims) {
  for (int64_t d : dims)
    if (!a.check(d >= 0 && d <= kMaxDim, "dimension out of range")) return false;
  return !a.failed;
}

// gemm(a, b, c, M, N, K, transA, transB, accumulate)
void Gemm(Args& a) {
  const int64_t M = a.integer(3, "M"), N = a.integer(4, "N"), K = a.integer(5, "K");
  if (!dims_ok(a, {M, N, K, M * N, M * K, K * N})) return;
  const bool ta = a.boolean(6), tb = a.boolean(7), acc = a.boolean(8);
  const float *A = nullptr, *B = nullptr;
  float* C = nullptr;
  if (a.arrays(arg(0, &A, "a", M * K), arg(1, &B, "b", K * N), arg(2, &C, "c", M * N)) &&
      !sgemm(ta, tb, int(M), int(N), int(K), A, B, C, acc))
    a.out_of_memory();
}

// batchMatMul(a, b, out, aIdx, bIdx, batch, M, N, K, transA, transB)
void BatchMatMul(Args& a) {
  const int64_t batch = a.integer(5, "batch"), M = a.integer(6, "M"), N = a.integer(7, "N"), K = a.integer(8, "K");
  if (!dims_ok(a, {batch, M, N, K, M * N, M * K, K * N})) return;
  const bool ta = a.boolean(9), tb = a.boolean(10);
  const int32_t *ai = nullptr, *bi = nullptr;
  if (!a.arrays(arg(3, &ai, "aIdx", batch), arg(4, &bi, "bIdx", batch))) return;
  int64_t na = 0, nb = 0;
  for (int64_t i = 0; i < batch; ++i) {
    if (!a.check(ai[i] >= 0 && bi[i] >= 0, "negative batch index")) return;
    na = ai[i] + 1 > na ? ai[i] + 1 : na;
    nb = bi[i] + 1 > nb ? bi[i] + 1 : nb;
  }
  const float *A = nullptr, *B = nullptr;
  float* O = nullptr;
  if (a.arrays(arg(0, &A, "a", na * M * K), arg(1, &B, "b", nb * K * N), arg(2, &O, "out", batch * M * N)) &&
      !batch_matmul(int(batch), ai, bi, ta, tb, int(M), int(N), int(K), A, B, O))
    a.out_of_memory();
}

}  // namespace

void register_matmul(napi_env env, napi_value exports) {
  export_functions(env, exports, {{"gemm", entry<9, Gemm>}, {"batchMatMul", entry<11, BatchMatMul>}});
}

}  // namespace alae
