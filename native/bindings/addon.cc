// The addon's module: the kernel families' bindings (bindings.h), the
// runtime switches (threads, instruction set), and the ABI TypeScript reads
// instead of keeping its own copy: `ops` (the op codes of the binary,
// comparison and unary families, by tfjs kernel name) and `layouts` (the
// field order of every params array). N-API's plain C API: no
// node-addon-api dependency. Every call is synchronous on the calling JS
// thread; the work inside is spread over the thread pool.
#include <node_api.h>

#include <cstdint>

#include "../kernels/conv.h"
#include "../kernels/elementwise.h"
#include "../kernels/instance_stats.h"
#include "../kernels/runtime.h"
#include "../kernels/simd.h"
#include "../kernels/style_epilogue.h"
#include "args.h"
#include "bindings.h"

namespace alae {
namespace {

// info() -> { threads, simd }
napi_value Info(napi_env env, napi_callback_info) {
  napi_value obj, threads, name;
  napi_create_object(env, &obj);
  napi_create_int32(env, num_threads(), &threads);
  napi_create_string_utf8(env, simd().name, NAPI_AUTO_LENGTH, &name);
  napi_set_named_property(env, obj, "threads", threads);
  napi_set_named_property(env, obj, "simd", name);
  return obj;
}

// setThreads(n): use at most n pool threads (0 = all).
void SetThreads(Args& a) {
  const int64_t n = a.integer(0, "n");
  if (!a.failed) set_num_threads(n < 0 ? 0 : int(n > 1024 ? 1024 : n));
}

// setSimd(name) -> boolean ("avx512", "avx2", "generic", "auto")
napi_value SetSimd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(1)) return nullptr;
  char name[32] = {};
  size_t len = 0;
  if (!a.check(napi_get_value_string_utf8(env, a.argv[0], name, sizeof(name), &len) == napi_ok, "name must be a string"))
    return nullptr;
  napi_value r;
  napi_get_boolean(env, set_simd(name), &r);
  return r;
}

napi_value Init(napi_env env, napi_value exports) {
  export_functions(env, exports, {{"info", Info}, {"setThreads", entry<1, SetThreads>}, {"setSimd", SetSimd}});
  register_matmul(env, exports);
  register_conv(env, exports);
  register_elementwise(env, exports);
  register_fused(env, exports);

  napi_value ops, layouts;
  napi_create_object(env, &ops);
  napi_set_named_property(env, ops, "binary", op_table(env, kBinaryOps));
  napi_set_named_property(env, ops, "compare", op_table(env, kCompareOps));
  napi_set_named_property(env, ops, "unary", op_table(env, kUnaryOps));
  napi_set_named_property(env, exports, "ops", ops);
  napi_create_object(env, &layouts);
  napi_set_named_property(env, layouts, "conv", layout(env, kConvLayout));
  napi_set_named_property(env, layouts, "depthwise", layout(env, kDepthwiseLayout));
  napi_set_named_property(env, layouts, "pool", layout(env, kPoolLayout));
  napi_set_named_property(env, layouts, "upsample", layout(env, kUpsampleLayout));
  napi_set_named_property(env, layouts, "styleEpilogue", layout(env, kStyleEpilogueLayout));
  napi_set_named_property(env, layouts, "instanceStats", layout(env, kInstanceStatsLayout));
  napi_set_named_property(env, exports, "layouts", layouts);
  return exports;
}

}  // namespace
}  // namespace alae

NAPI_MODULE_INIT() { return alae::Init(env, exports); }
