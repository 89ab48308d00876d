// A strided copy: the data movement of slice, split, concat, pad and
// transpose (the index box collapsed to the fewest dimensions).
#include <cstdint>
#include <cstring>

#include "ew_common.h"

namespace alae {

// dst[doff + sum i_k*ds_k] = src[soff + sum i_k*ss_k] over the index box.
void strided_copy(const float* src, float* dst, const int64_t* shape, const int64_t* ss, const int64_t* ds, int rank) {
  int64_t n[kMaxRank], a[kMaxRank], b[kMaxRank];
  int nd = 0;
  for (int i = 0; i < rank; ++i) {
    if (shape[i] == 0) return;
    if (shape[i] == 1) continue;
    if (nd > 0 && a[nd - 1] == ss[i] * shape[i] && b[nd - 1] == ds[i] * shape[i]) {
      n[nd - 1] *= shape[i];
      a[nd - 1] = ss[i];
      b[nd - 1] = ds[i];
      continue;
    }
    n[nd] = shape[i], a[nd] = ss[i], b[nd] = ds[i];
    ++nd;
  }
  if (nd == 0) {
    dst[0] = src[0];
    return;
  }
  const int64_t inner = n[nd - 1], si = a[nd - 1], di = b[nd - 1];
  int64_t rows = 1;
  for (int k = 0; k < nd - 1; ++k) rows *= n[k];
  run_chunks(rows, inner, [&](int64_t r0, int64_t r1) {
    int64_t idx[kMaxRank] = {};
    int64_t os = 0, od = 0;
    int64_t r = r0;
    for (int k = nd - 2; k >= 0; --k) {
      idx[k] = r % n[k];
      r /= n[k];
      os += idx[k] * a[k];
      od += idx[k] * b[k];
    }
    for (int64_t q = r0; q < r1; ++q) {
      const float* __restrict ps = src + os;
      float* __restrict pd = dst + od;
      if (si == 1 && di == 1) std::memcpy(pd, ps, size_t(inner) * sizeof(float));
      else
        for (int64_t i = 0; i < inner; ++i) pd[i * di] = ps[i * si];
      for (int k = nd - 2; k >= 0; --k) {
        os += a[k];
        od += b[k];
        if (++idx[k] < n[k]) break;
        os -= idx[k] * a[k];
        od -= idx[k] * b[k];
        idx[k] = 0;
      }
    }
  });
}

}  // namespace alae
