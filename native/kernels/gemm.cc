// The GEMM's per-thread packing buffers (gemm.h).
#include "gemm.h"

namespace alae {
namespace {

// n aligned Ts of the calling thread, allocated on first use and freed with
// the thread (nullptr when the allocation failed).
template <class T>
struct Kept {
  T* p;
  explicit Kept(size_t n) : p(reinterpret_cast<T*>(aligned_floats(n * sizeof(T) / sizeof(float)))) {}
  ~Kept() { free_floats(reinterpret_cast<float*>(p)); }
};

}  // namespace

Workspace& workspace() {
  thread_local Kept<float> a(static_cast<size_t>(MC) * KC + 64), b(static_cast<size_t>(KC) * NC + 64);
  thread_local Workspace ws{a.p, b.p};
  return ws;
}

WorkspaceD& workspace_d() {
  thread_local Kept<double> a(static_cast<size_t>(MC_D) * KC_D + 64), b(static_cast<size_t>(KC_D) * NR + 64),
      c(static_cast<size_t>(MC_D) * NC_D + 64);
  thread_local WorkspaceD ws{a.p, b.p, c.p};
  return ws;
}

bool workspace_ok() {
  const Workspace& ws = workspace();
  return ws.a && ws.b;
}

bool workspace_d_ok() {
  const WorkspaceD& ws = workspace_d();
  return ws.a && ws.b && ws.c;
}

}  // namespace alae
