// gemm and batchMatMul (kernels/matmul.h).
#include "../kernels/matmul.h"

#include <cstdint>

#include "args.h"
#include "bindings.h"

namespace alae {
namespace {

void out_of_memory(napi_env env) { napi_throw_error(env, nullptr, "alae_native: out of memory"); }

constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;

bool dims_ok(Args& a, std::initializer_list<int64_t> dims) {
  for (int64_t d : dims)
    if (d < 0 || d > kMaxDim) {
      a.fail("dimension out of range");
      return false;
    }
  return !a.failed;
}

// gemm(a, b, c, M, N, K, transA, transB, accumulate)
napi_value Gemm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(9)) return nullptr;
  const int64_t M = a.integer(3, "M"), N = a.integer(4, "N"), K = a.integer(5, "K");
  if (!dims_ok(a, {M, N, K, M * N, M * K, K * N})) return nullptr;
  const bool ta = a.boolean(6), tb = a.boolean(7), acc = a.boolean(8);
  const float* A = a.typed<float>(0, napi_float32_array, M * K, "a");
  const float* B = a.typed<float>(1, napi_float32_array, K * N, "b");
  float* C = a.typed<float>(2, napi_float32_array, M * N, "c");
  if (a.failed) return nullptr;
  if (!sgemm(ta, tb, int(M), int(N), int(K), A, B, C, acc)) out_of_memory(env);
  return undefined(env);
}

// batchMatMul(a, b, out, aIdx, bIdx, batch, M, N, K, transA, transB)
napi_value BatchMatMul(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(11)) return nullptr;
  const int64_t batch = a.integer(5, "batch"), M = a.integer(6, "M"), N = a.integer(7, "N"), K = a.integer(8, "K");
  if (!dims_ok(a, {batch, M, N, K, M * N, M * K, K * N})) return nullptr;
  const bool ta = a.boolean(9), tb = a.boolean(10);
  const int32_t* ai = a.typed<int32_t>(3, napi_int32_array, batch, "aIdx");
  const int32_t* bi = a.typed<int32_t>(4, napi_int32_array, batch, "bIdx");
  if (a.failed) return nullptr;
  int64_t na = 0, nb = 0;
  for (int64_t i = 0; i < batch; ++i) {
    if (ai[i] < 0 || bi[i] < 0) {
      a.fail("negative batch index");
      return nullptr;
    }
    na = ai[i] + 1 > na ? ai[i] + 1 : na;
    nb = bi[i] + 1 > nb ? bi[i] + 1 : nb;
  }
  const float* A = a.typed<float>(0, napi_float32_array, na * M * K, "a");
  const float* B = a.typed<float>(1, napi_float32_array, nb * K * N, "b");
  float* O = a.typed<float>(2, napi_float32_array, batch * M * N, "out");
  if (a.failed) return nullptr;
  if (!batch_matmul(int(batch), ai, bi, ta, tb, int(M), int(N), int(K), A, B, O)) out_of_memory(env);
  return undefined(env);
}

}  // namespace

void register_matmul(napi_env env, napi_value exports) {
  export_functions(env, exports, {{"gemm", Gemm}, {"batchMatMul", BatchMatMul}});
}

}  // namespace alae
