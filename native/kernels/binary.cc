// Binary arithmetic (add, sub, mul, div) with numpy broadcasting, the
// comparisons, and select. The shapes are collapsed to the fewest dimensions
// (collapse_broadcast), so the common cases become an outer loop over rows
// and a contiguous inner loop where each operand is either a vector or a
// scalar (x - mean[N,1,1,C]: rows of C; noise_weight[C] * noise[N,H,W,1]:
// vector * scalar per pixel).
#include <cstdint>

#include "ew_common.h"

namespace alae {
namespace {

// The ops, each with its code in the exported tables (elementwise.h).
struct Add { using T = float; static constexpr int code = kAdd; static float f(float a, float b) { return a + b; } };
struct Sub { using T = float; static constexpr int code = kSub; static float f(float a, float b) { return a - b; } };
struct Mul { using T = float; static constexpr int code = kMul; static float f(float a, float b) { return a * b; } };
struct Div { using T = float; static constexpr int code = kDiv; static float f(float a, float b) { return a / b; } };

struct Gt { using T = uint8_t; static constexpr int code = kGreater; static uint8_t f(float a, float b) { return a > b; } };
struct Ge { using T = uint8_t; static constexpr int code = kGreaterEqual; static uint8_t f(float a, float b) { return a >= b; } };
struct Lt { using T = uint8_t; static constexpr int code = kLess; static uint8_t f(float a, float b) { return a < b; } };
struct Le { using T = uint8_t; static constexpr int code = kLessEqual; static uint8_t f(float a, float b) { return a <= b; } };
struct Eq { using T = uint8_t; static constexpr int code = kEqual; static uint8_t f(float a, float b) { return a == b; } };
struct Ne { using T = uint8_t; static constexpr int code = kNotEqual; static uint8_t f(float a, float b) { return a != b; } };

template <class Op>
void binary_rows(const float* a, const float* b, typename Op::T* out, const BDim* d, int nd, int64_t r0, int64_t r1) {
  const BDim in = d[nd - 1];
  const int64_t n = in.n;
  int64_t idx[kMaxRank] = {};
  int64_t oa = 0, ob = 0;
  {
    int64_t r = r0;
    for (int k = nd - 2; k >= 0; --k) {
      idx[k] = r % d[k].n;
      r /= d[k].n;
      oa += idx[k] * d[k].sa;
      ob += idx[k] * d[k].sb;
    }
  }
  for (int64_t r = r0; r < r1; ++r) {
    const float* __restrict pa = a + oa;
    const float* __restrict pb = b + ob;
    typename Op::T* __restrict po = out + r * n;
    if (in.sa == 1 && in.sb == 1) {
      for (int64_t i = 0; i < n; ++i) po[i] = Op::f(pa[i], pb[i]);
    } else if (in.sa == 1) {
      const float s = pb[0];
      for (int64_t i = 0; i < n; ++i) po[i] = Op::f(pa[i], s);
    } else if (in.sb == 1) {
      const float s = pa[0];
      for (int64_t i = 0; i < n; ++i) po[i] = Op::f(s, pb[i]);
    } else {
      po[0] = Op::f(pa[0], pb[0]);  // only when n == 1
    }
    for (int k = nd - 2; k >= 0; --k) {
      oa += d[k].sa;
      ob += d[k].sb;
      if (++idx[k] < d[k].n) break;
      oa -= idx[k] * d[k].sa;
      ob -= idx[k] * d[k].sb;
      idx[k] = 0;
    }
  }
}

template <class Op>
void binary_run(const float* a, const float* b, typename Op::T* out, const BDim* d, int nd) {
  if (nd == 0) {
    out[0] = Op::f(a[0], b[0]);
    return;
  }
  int64_t rows = 1;
  for (int k = 0; k < nd - 1; ++k) rows *= d[k].n;
  run_chunks(rows, d[nd - 1].n, [&](int64_t r0, int64_t r1) { binary_rows<Op>(a, b, out, d, nd, r0, r1); });
}

// out = a op b with the one of Ops whose code is op; false when none is.
template <class... Ops, class Out>
bool run_op(int op, const float* a, const float* b, Out* out, const Broadcast& bc) {
  return ((op == Ops::code && (binary_run<Ops>(a, b, out, bc.d, bc.nd), true)) || ...);
}

}  // namespace

bool collapse_broadcast(const int32_t* as, int ra, const int32_t* bs, int rb, Broadcast* out) {
  BDim* d = out->d;
  const int r = ra > rb ? ra : rb;
  int64_t A[kMaxRank], B[kMaxRank], O[kMaxRank], SA[kMaxRank], SB[kMaxRank];
  for (int i = 0; i < r; ++i) {
    const int ia = i - (r - ra), ib = i - (r - rb);
    A[i] = ia >= 0 ? as[ia] : 1;
    B[i] = ib >= 0 ? bs[ib] : 1;
    if (A[i] < 0 || B[i] < 0) return false;
    if (A[i] != B[i] && A[i] != 1 && B[i] != 1) return false;
    O[i] = A[i] == 1 ? B[i] : A[i];
  }
  int64_t sa = 1, sb = 1, total = 1;
  for (int i = r - 1; i >= 0; --i) {
    SA[i] = A[i] == 1 ? 0 : sa;
    SB[i] = B[i] == 1 ? 0 : sb;
    sa *= A[i];
    sb *= B[i];
    total *= O[i];
  }
  out->osize = total;
  int n = 0;
  for (int i = 0; i < r; ++i) {
    if (O[i] == 1) continue;
    if (n > 0) {
      BDim& p = d[n - 1];
      // Merge into the previous (outer) dimension when it continues it.
      if (p.sa == SA[i] * O[i] && p.sb == SB[i] * O[i]) {
        p.n *= O[i];
        p.sa = SA[i];
        p.sb = SB[i];
        continue;
      }
    }
    d[n++] = BDim{O[i], SA[i], SB[i]};
  }
  out->nd = n;
  return true;
}

bool binary(int op, const float* a, const float* b, float* out, const Broadcast& bc) {
  return run_op<Add, Sub, Mul, Div>(op, a, b, out, bc);
}

bool compare(int op, const float* a, const float* b, uint8_t* out, const Broadcast& bc) {
  return run_op<Gt, Ge, Lt, Le, Eq, Ne>(op, a, b, out, bc);
}

void select(const uint8_t* cond, const float* t, const float* e, float* out, int64_t n) {
  run_chunks(n, 1, [&](int64_t i0, int64_t i1) {
    const uint8_t* __restrict c = cond;
    const float* __restrict tv = t;
    const float* __restrict ev = e;
    float* __restrict o = out;
    for (int64_t i = i0; i < i1; ++i) o[i] = c[i] == 1 ? tv[i] : ev[i];
  });
}

}  // namespace alae
