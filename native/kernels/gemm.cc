// The GEMM's per-thread packing buffers (gemm.h).
#include "gemm.h"

namespace alae {

Workspace& workspace() {
  struct Owned {
    Workspace ws;
    Owned() {
      ws.a = aligned_floats(static_cast<size_t>(MC) * KC + 64);
      ws.b = aligned_floats(static_cast<size_t>(KC) * NC + 64);
    }
    ~Owned() {
      free_floats(ws.a);
      free_floats(ws.b);
    }
  };
  thread_local Owned owned;
  return owned.ws;
}

WorkspaceD& workspace_d() {
  struct Owned {
    WorkspaceD ws;
    Owned() {
      ws.a = aligned_doubles(static_cast<size_t>(MC_D) * KC_D + 64);
      ws.b = aligned_doubles(static_cast<size_t>(KC_D) * NR + 64);
      ws.c = aligned_doubles(static_cast<size_t>(MC_D) * NC_D + 64);
    }
    ~Owned() {
      free_doubles(ws.a);
      free_doubles(ws.b);
      free_doubles(ws.c);
    }
  };
  thread_local Owned owned;
  return owned.ws;
}

bool workspace_ok() {
  Workspace& ws = workspace();
  return ws.a && ws.b;
}

}  // namespace alae
