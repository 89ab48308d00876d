// The ew* entry points of the elementwise kernel families (kernels/elementwise.h).
#include "../kernels/elementwise.h"

#include <cstdint>

#include "args.h"
#include "bindings.h"

namespace alae {
namespace {

// Shape (Int32Array of rank <= 8, non-negative dims) -> element count.
bool shape_of(Args& a, size_t i, const int32_t** dims, int* rank, int64_t* size, const char* what) {
  size_t len = 0;
  *dims = a.typed_len<int32_t>(i, &len, what);
  if (!a.check(a.failed || len <= size_t(kMaxRank), what, ": rank above 8")) return false;
  int64_t s = 1;
  for (size_t k = 0; k < len; ++k) {
    if (!a.check((*dims)[k] >= 0, what, ": negative dimension")) return false;
    s *= (*dims)[k];
    if (!a.check(s <= (int64_t{1} << 40), what, ": too large")) return false;
  }
  *rank = int(len);
  *size = s;
  return true;
}

// ewBinary(op, a, b, out, aShape, bShape) and ewCompare(op, a, b, out: Uint8Array, aShape, bShape):
// out = a op b, broadcast; the family's kernel returns false for an unknown op.
template <class Out, bool (*Kernel)(int, const float*, const float*, Out*, const Broadcast&)>
void EwBroadcast(Args& a) {
  const int64_t op = a.integer(0, "op");
  const int32_t *as = nullptr, *bs = nullptr;
  int ra = 0, rb = 0;
  int64_t na = 0, nb = 0;
  if (!shape_of(a, 4, &as, &ra, &na, "aShape") || !shape_of(a, 5, &bs, &rb, &nb, "bShape")) return;
  Broadcast bc;
  if (!a.check(collapse_broadcast(as, ra, bs, rb, &bc), "shapes do not broadcast")) return;
  const float *A = nullptr, *B = nullptr;
  Out* O = nullptr;
  if (a.arrays(arg(1, &A, "a", na), arg(2, &B, "b", nb), arg(3, &O, "out", bc.osize)) && bc.osize > 0)
    a.check(Kernel(int(op), A, B, O, bc), "unknown op ", op);
}

// ewSelect(cond: Uint8Array, t, e, out): out[i] = cond[i] == 1 ? t[i] : e[i], all one shape.
void EwSelect(Args& a) {
  size_t n = 0;
  const uint8_t* C = a.typed_len<uint8_t>(0, &n, "condition");
  const float *T = nullptr, *E = nullptr;
  float* O = nullptr;
  if (a.arrays(arg(1, &T, "t", int64_t(n)), arg(2, &E, "e", int64_t(n)), arg(3, &O, "out", int64_t(n))))
    select(C, T, E, O, int64_t(n));
}

// ewUnary(op, x, out, alpha)
void EwUnary(Args& a) {
  const int64_t op = a.integer(0, "op");
  size_t n = 0;
  const float* X = a.typed_len<float>(1, &n, "x");
  float* Y = a.typed<float>(2, int64_t(n), "out");
  const double alpha = a.number(3, "alpha");
  if (a.check(op >= kSquare && op <= kReciprocal, "unknown op ", op)) unary(int(op), X, Y, int64_t(n), alpha);
}

// ewReduce(x, out, shape, reduceMask, mean)
void EwReduce(Args& a) {
  const int32_t* shape = nullptr;
  int rank = 0;
  int64_t total = 0;
  if (!shape_of(a, 2, &shape, &rank, &total, "shape")) return;
  size_t lm = 0;
  const int32_t* mask = a.typed_len<int32_t>(3, &lm, "mask");
  if (!a.check(a.failed || lm == size_t(rank), "mask must have one entry per dimension")) return;
  int64_t osize = 1;
  for (int i = 0; i < rank; ++i)
    if (!mask[i]) osize *= shape[i];
  const float* X = nullptr;
  float* O = nullptr;
  const int64_t mean = a.integer(4, "mean");
  if (a.arrays(arg(0, &X, "x", total), arg(1, &O, "out", osize))) reduce(X, O, shape, mask, rank, mean != 0);
}

// ewCopy(src, dst, shape, srcStrides, dstStrides, srcOffset, dstOffset)
void EwCopy(Args& a) {
  const int32_t* shape = nullptr;
  int rank = 0;
  int64_t total = 0;
  if (!shape_of(a, 2, &shape, &rank, &total, "shape")) return;
  const int32_t *ss = nullptr, *ds = nullptr;
  const int64_t so = a.integer(5, "srcOffset"), doff = a.integer(6, "dstOffset");
  if (!a.arrays(arg(3, &ss, "srcStrides", rank), arg(4, &ds, "dstStrides", rank)) ||
      !a.check(so >= 0 && doff >= 0, "negative offset"))
    return;
  int64_t shp[kMaxRank], sst[kMaxRank], dst[kMaxRank];
  int64_t smax = so, dmax = doff;
  for (int i = 0; i < rank; ++i) {
    if (!a.check(ss[i] >= 0 && ds[i] >= 0, "negative stride")) return;
    shp[i] = shape[i], sst[i] = ss[i], dst[i] = ds[i];
    smax += (shp[i] - 1) * sst[i];
    dmax += (shp[i] - 1) * dst[i];
  }
  const float* S = nullptr;
  float* D = nullptr;
  if (a.arrays(arg(0, &S, "src", total ? smax + 1 : 0), arg(1, &D, "dst", total ? dmax + 1 : 0)) && total)
    strided_copy(S + so, D + doff, shp, sst, dst, rank);
}

// The depthwise params (argument 3, kDepthwiseLayout) and tap offsets
// (argument 4, Int32Array [2*taps]).
bool dw_shape(Args& a, DwShape* s) {
  const int32_t* p = params(a, 3, kDepthwiseLayout, 0);
  const int32_t* off = p ? a.typed<int32_t>(4, int64_t{2} * p[6], "offsets") : nullptr;
  if (!a.failed) *s = DwShape{p[0], p[1], p[2], p[3], p[4], p[5], p[6], off};
  return !a.failed;
}

// ewDepthwise(src, w, dst, params, offsets)
void EwDepthwise(Args& a) {
  DwShape s;
  const float *S = nullptr, *W = nullptr;
  float* D = nullptr;
  if (dw_shape(a, &s) && a.arrays(arg(0, &S, "src", s.N * s.Hs * s.Ws * s.C), arg(1, &W, "filter", int64_t(s.ntaps) * s.C),
                                  arg(2, &D, "dst", s.N * s.Hd * s.Wd * s.C)))
    depthwise_taps(s, S, W, D);
}

// ewDepthwiseFilter(src, dy, dw, params, offsets)
void EwDepthwiseFilter(Args& a) {
  DwShape s;
  const float *S = nullptr, *G = nullptr;
  float* W = nullptr;
  if (dw_shape(a, &s) && a.arrays(arg(0, &S, "src", s.N * s.Hs * s.Ws * s.C), arg(1, &G, "dy", s.N * s.Hd * s.Wd * s.C),
                                  arg(2, &W, "dw", int64_t(s.ntaps) * s.C)))
    depthwise_filter(s, S, G, W);
}

// ewUpsample2x(x, y, params (kUpsampleLayout))
void EwUpsample2x(Args& a) {
  const int32_t* p = params(a, 2, kUpsampleLayout, 0);
  if (!p) return;
  const int64_t N = p[0], H = p[1], W = p[2], C = p[3];
  const float* X = nullptr;
  float* Y = nullptr;
  if (a.arrays(arg(0, &X, "x", N * H * W * C), arg(1, &Y, "y", 4 * N * H * W * C))) upsample2x(N, H, W, C, X, Y);
}

// The pool params (argument 2, kPoolLayout): every window inside the input.
bool pool_shape(Args& a, PoolShape* s) {
  const int32_t* p = params(a, 2, kPoolLayout, 0);
  if (!p) return false;
  *s = PoolShape{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]};
  return a.check(s->fh >= 1 && s->fw >= 1 && s->sh >= 1 && s->sw >= 1, "bad pool window") &&
         a.check((s->Ho == 0 || (s->Ho - 1) * s->sh + s->fh <= s->H) && (s->Wo == 0 || (s->Wo - 1) * s->sw + s->fw <= s->W),
                 "pool window outside the input");
}

// ewAvgPool(x, y, params)
void EwAvgPool(Args& a) {
  PoolShape s;
  const float* X = nullptr;
  float* Y = nullptr;
  if (pool_shape(a, &s) && a.arrays(arg(0, &X, "x", s.N * s.H * s.W * s.C), arg(1, &Y, "y", s.N * s.Ho * s.Wo * s.C)))
    avg_pool(s, X, Y);
}

// ewAvgPoolGrad(dy, dx, params): stride = window only.
void EwAvgPoolGrad(Args& a) {
  PoolShape s;
  const float* G = nullptr;
  float* X = nullptr;
  if (pool_shape(a, &s) && a.check(s.sh == s.fh && s.sw == s.fw, "avgPoolGrad: stride must equal the window") &&
      a.arrays(arg(0, &G, "dy", s.N * s.Ho * s.Wo * s.C), arg(1, &X, "dx", s.N * s.H * s.W * s.C)))
    avg_pool_grad(s, G, X);
}

}  // namespace

void register_elementwise(napi_env env, napi_value exports) {
  export_functions(env, exports, {
      {"ewBinary", entry<6, EwBroadcast<float, binary>>}, {"ewCompare", entry<6, EwBroadcast<uint8_t, compare>>},
      {"ewSelect", entry<4, EwSelect>}, {"ewUnary", entry<4, EwUnary>}, {"ewReduce", entry<5, EwReduce>},
      {"ewCopy", entry<7, EwCopy>}, {"ewDepthwise", entry<5, EwDepthwise>},
      {"ewDepthwiseFilter", entry<5, EwDepthwiseFilter>}, {"ewAvgPool", entry<3, EwAvgPool>},
      {"ewAvgPoolGrad", entry<3, EwAvgPoolGrad>}, {"ewUpsample2x", entry<3, EwUpsample2x>},
  });
}

}  // namespace alae
