// The ew* entry points of the elementwise kernel families (kernels/elementwise.h).
#include "../kernels/elementwise.h"

#include <cstdint>
#include <string>

#include "args.h"
#include "bindings.h"

namespace alae {
namespace {

// Shape (Int32Array of rank <= 8, non-negative dims) -> element count.
bool shape_of(Args& a, size_t i, const int32_t** dims, int* rank, int64_t* size, const char* what) {
  size_t len = 0;
  *dims = a.i32(i, &len, what);
  if (a.failed) return false;
  if (len > size_t(kMaxRank)) {
    a.fail(std::string(what) + ": rank above 8");
    return false;
  }
  int64_t s = 1;
  for (size_t k = 0; k < len; ++k) {
    if ((*dims)[k] < 0) {
      a.fail(std::string(what) + ": negative dimension");
      return false;
    }
    s *= (*dims)[k];
    if (s > (int64_t{1} << 40)) {
      a.fail(std::string(what) + ": too large");
      return false;
    }
  }
  *rank = int(len);
  *size = s;
  return true;
}

// The shared part of ewBinary / ewCompare: operands, shapes, broadcast.
struct BinaryCall {
  const float *A = nullptr, *B = nullptr;
  void* out = nullptr;
  Broadcast bc;
  int64_t op = 0;
};

bool binary_call(Args& a, napi_typedarray_type out_type, BinaryCall* c) {
  if (!a.need(6)) return false;
  c->op = a.integer(0, "op");
  const int32_t *as = nullptr, *bs = nullptr;
  int ra = 0, rb = 0;
  int64_t na = 0, nb = 0;
  if (!shape_of(a, 4, &as, &ra, &na, "aShape") || !shape_of(a, 5, &bs, &rb, &nb, "bShape")) return false;
  size_t la = 0, lb = 0, lo = 0;
  c->A = a.f32(1, &la, "a");
  c->B = a.f32(2, &lb, "b");
  c->out = out_type == napi_uint8_array ? static_cast<void*>(a.typed_len<uint8_t>(3, napi_uint8_array, &lo, "out"))
                                        : static_cast<void*>(a.f32(3, &lo, "out"));
  if (a.failed) return false;
  if (!collapse_broadcast(as, ra, bs, rb, &c->bc)) {
    a.fail("shapes do not broadcast");
    return false;
  }
  return a.enough(la, na, "a") && a.enough(lb, nb, "b") && a.enough(lo, c->bc.osize, "out");
}

// ewBinary(op, a, b, out, aShape, bShape)
napi_value EwBinary(napi_env env, napi_callback_info info) {
  Args a(env, info);
  BinaryCall c;
  if (!binary_call(a, napi_float32_array, &c)) return nullptr;
  if (c.bc.osize == 0) return undefined(env);
  if (!binary(int(c.op), c.A, c.B, static_cast<float*>(c.out), c.bc)) a.fail("unknown binary op");
  return a.failed ? nullptr : undefined(env);
}

// ewCompare(op, a, b, out: Uint8Array, aShape, bShape)
napi_value EwCompare(napi_env env, napi_callback_info info) {
  Args a(env, info);
  BinaryCall c;
  if (!binary_call(a, napi_uint8_array, &c)) return nullptr;
  if (c.bc.osize == 0) return undefined(env);
  if (!compare(int(c.op), c.A, c.B, static_cast<uint8_t*>(c.out), c.bc)) a.fail("unknown comparison");
  return a.failed ? nullptr : undefined(env);
}

// ewSelect(cond: Uint8Array, t, e, out): out[i] = cond[i] == 1 ? t[i] : e[i], all one shape.
napi_value EwSelect(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(4)) return nullptr;
  size_t lc = 0, lt = 0, le = 0, lo = 0;
  const uint8_t* Cd = a.typed_len<uint8_t>(0, napi_uint8_array, &lc, "condition");
  const float* T = a.f32(1, &lt, "t");
  const float* E = a.f32(2, &le, "e");
  float* O = a.f32(3, &lo, "out");
  if (a.failed) return nullptr;
  if (!a.enough(lt, int64_t(lc), "t") || !a.enough(le, int64_t(lc), "e") || !a.enough(lo, int64_t(lc), "out")) return nullptr;
  select(Cd, T, E, O, int64_t(lc));
  return undefined(env);
}

// ewUnary(op, x, out, alpha)
napi_value EwUnary(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(4)) return nullptr;
  const int64_t op = a.integer(0, "op");
  size_t lx = 0, ly = 0;
  const float* X = a.f32(1, &lx, "x");
  float* Y = a.f32(2, &ly, "out");
  const double alpha = a.number(3, "alpha");
  if (a.failed) return nullptr;
  if (op < kSquare || op > kReciprocal) {
    a.fail("unknown unary op");
    return nullptr;
  }
  if (!a.enough(ly, int64_t(lx), "out")) return nullptr;
  unary(int(op), X, Y, int64_t(lx), alpha);
  return undefined(env);
}

// ewReduce(x, out, shape, reduceMask, mean)
napi_value EwReduce(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(5)) return nullptr;
  const int32_t* shape = nullptr;
  int rank = 0;
  int64_t total = 0;
  if (!shape_of(a, 2, &shape, &rank, &total, "shape")) return nullptr;
  size_t lm = 0, lx = 0, lo = 0;
  const int32_t* mask = a.i32(3, &lm, "mask");
  const float* X = a.f32(0, &lx, "x");
  float* O = a.f32(1, &lo, "out");
  const int64_t mean = a.integer(4, "mean");
  if (a.failed) return nullptr;
  if (lm != size_t(rank)) {
    a.fail("mask must have one entry per dimension");
    return nullptr;
  }
  int64_t osize = 1;
  for (int i = 0; i < rank; ++i)
    if (!mask[i]) osize *= shape[i];
  if (!a.enough(lx, total, "x") || !a.enough(lo, osize, "out")) return nullptr;
  reduce(X, O, shape, mask, rank, mean != 0);
  return undefined(env);
}

// ewCopy(src, dst, shape, srcStrides, dstStrides, srcOffset, dstOffset)
napi_value EwCopy(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(7)) return nullptr;
  const int32_t* shape = nullptr;
  int rank = 0;
  int64_t total = 0;
  if (!shape_of(a, 2, &shape, &rank, &total, "shape")) return nullptr;
  size_t ls = 0, ld = 0, l1 = 0, l2 = 0;
  const float* S = a.f32(0, &ls, "src");
  float* D = a.f32(1, &ld, "dst");
  const int32_t* ss = a.i32(3, &l1, "srcStrides");
  const int32_t* ds = a.i32(4, &l2, "dstStrides");
  const int64_t so = a.integer(5, "srcOffset"), doff = a.integer(6, "dstOffset");
  if (a.failed) return nullptr;
  if (l1 != size_t(rank) || l2 != size_t(rank) || so < 0 || doff < 0) {
    a.fail("bad strides or offsets");
    return nullptr;
  }
  if (total == 0) return undefined(env);
  int64_t shp[kMaxRank], sst[kMaxRank], dst[kMaxRank];
  int64_t smax = so, dmax = doff;
  for (int i = 0; i < rank; ++i) {
    if (ss[i] < 0 || ds[i] < 0) {
      a.fail("negative stride");
      return nullptr;
    }
    shp[i] = shape[i], sst[i] = ss[i], dst[i] = ds[i];
    smax += (shp[i] - 1) * sst[i];
    dmax += (shp[i] - 1) * dst[i];
  }
  if (!a.enough(ls, smax + 1, "src") || !a.enough(ld, dmax + 1, "dst")) return nullptr;
  strided_copy(S + so, D + doff, shp, sst, dst, rank);
  return undefined(env);
}

// Depthwise params Int32Array (kDepthwiseLayout); offsets Int32Array [2*taps].
bool dw_shape(Args& a, size_t pi, size_t oi, DwShape* s) {
  size_t lo = 0;
  const int32_t* p = params(a, pi, kDepthwiseLayout);
  const int32_t* off = a.i32(oi, &lo, "offsets");
  if (a.failed) return false;
  for (int k = 0; k < 7; ++k)
    if (p[k] < 0) {
      a.fail("negative dimension");
      return false;
    }
  if (lo < size_t(2) * size_t(p[6])) {
    a.fail("offsets is too short");
    return false;
  }
  *s = DwShape{p[0], p[1], p[2], p[3], p[4], p[5], p[6], off};
  return true;
}

// ewDepthwise(src, w, dst, params, offsets)
napi_value EwDepthwise(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(5)) return nullptr;
  DwShape s;
  if (!dw_shape(a, 3, 4, &s)) return nullptr;
  size_t ls = 0, lw = 0, ld = 0;
  const float* S = a.f32(0, &ls, "src");
  const float* W = a.f32(1, &lw, "filter");
  float* D = a.f32(2, &ld, "dst");
  if (!a.enough(ls, s.N * s.Hs * s.Ws * s.C, "src") || !a.enough(lw, int64_t(s.ntaps) * s.C, "filter") ||
      !a.enough(ld, s.N * s.Hd * s.Wd * s.C, "dst"))
    return nullptr;
  depthwise_taps(s, S, W, D);
  return undefined(env);
}

// ewDepthwiseFilter(src, dy, dw, params, offsets)
napi_value EwDepthwiseFilter(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(5)) return nullptr;
  DwShape s;
  if (!dw_shape(a, 3, 4, &s)) return nullptr;
  size_t ls = 0, lg = 0, lw = 0;
  const float* S = a.f32(0, &ls, "src");
  const float* G = a.f32(1, &lg, "dy");
  float* W = a.f32(2, &lw, "dw");
  if (!a.enough(ls, s.N * s.Hs * s.Ws * s.C, "src") || !a.enough(lg, s.N * s.Hd * s.Wd * s.C, "dy") ||
      !a.enough(lw, int64_t(s.ntaps) * s.C, "dw"))
    return nullptr;
  depthwise_filter(s, S, G, W);
  return undefined(env);
}

// Pool params Int32Array (kPoolLayout).
bool pool_shape(Args& a, size_t i, PoolShape* s) {
  const int32_t* p = params(a, i, kPoolLayout);
  if (!p) return false;
  for (int k = 0; k < 10; ++k)
    if (p[k] < (k < 6 ? 0 : 1)) {
      a.fail("bad pool dimension");
      return false;
    }
  *s = PoolShape{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]};
  if ((s->Ho > 0 && (s->Ho - 1) * s->sh + s->fh > s->H) || (s->Wo > 0 && (s->Wo - 1) * s->sw + s->fw > s->W)) {
    a.fail("pool window outside the input");
    return false;
  }
  return true;
}

// ewUpsample2x(x, y, params (kUpsampleLayout))
napi_value EwUpsample2x(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(3)) return nullptr;
  size_t lx = 0, ly = 0;
  const int32_t* p = params(a, 2, kUpsampleLayout);
  if (!p) return nullptr;
  const int64_t N = p[0], H = p[1], W = p[2], C = p[3];
  if (N < 0 || H < 0 || W < 0 || C < 0) {
    a.fail("params: bad shape");
    return nullptr;
  }
  const float* X = a.f32(0, &lx, "x");
  float* Y = a.f32(1, &ly, "y");
  if (!a.enough(lx, N * H * W * C, "x") || !a.enough(ly, 4 * N * H * W * C, "y")) return nullptr;
  upsample2x(N, H, W, C, X, Y);
  return undefined(env);
}

// ewAvgPool(x, y, params)
napi_value EwAvgPool(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(3)) return nullptr;
  PoolShape s;
  if (!pool_shape(a, 2, &s)) return nullptr;
  size_t lx = 0, ly = 0;
  const float* X = a.f32(0, &lx, "x");
  float* Y = a.f32(1, &ly, "y");
  if (!a.enough(lx, s.N * s.H * s.W * s.C, "x") || !a.enough(ly, s.N * s.Ho * s.Wo * s.C, "y")) return nullptr;
  avg_pool(s, X, Y);
  return undefined(env);
}

// ewAvgPoolGrad(dy, dx, params): stride = window only.
napi_value EwAvgPoolGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.need(3)) return nullptr;
  PoolShape s;
  if (!pool_shape(a, 2, &s)) return nullptr;
  if (s.sh != s.fh || s.sw != s.fw) {
    a.fail("avgPoolGrad: stride must equal the window");
    return nullptr;
  }
  size_t lg = 0, lx = 0;
  const float* G = a.f32(0, &lg, "dy");
  float* X = a.f32(1, &lx, "dx");
  if (!a.enough(lg, s.N * s.Ho * s.Wo * s.C, "dy") || !a.enough(lx, s.N * s.H * s.W * s.C, "dx")) return nullptr;
  avg_pool_grad(s, G, X);
  return undefined(env);
}

}  // namespace

void register_elementwise(napi_env env, napi_value exports) {
  export_functions(env, exports, {
      {"ewBinary", EwBinary}, {"ewCompare", EwCompare}, {"ewSelect", EwSelect}, {"ewUnary", EwUnary},
      {"ewReduce", EwReduce}, {"ewCopy", EwCopy}, {"ewDepthwise", EwDepthwise}, {"ewDepthwiseFilter", EwDepthwiseFilter},
      {"ewAvgPool", EwAvgPool}, {"ewAvgPoolGrad", EwAvgPoolGrad}, {"ewUpsample2x", EwUpsample2x},
  });
}

}  // namespace alae
