// What the elementwise kernel files share: the floating-point rules (no FMA
// contraction), the AVX2 clones of compute-bound loops, and the split of a
// loop into thread-count-independent chunks. Include after the standard
// headers: the pragma applies to the functions that follow.
#pragma once

#include <cstdint>

#include "elementwise.h"
#include "runtime.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off", "no-trapping-math")
#endif

// Loops whose float <-> double conversions make them compute-bound get an
// AVX2 clone, picked at load time (GCC / clang on x86-64 Linux; elsewhere the
// baseline build). AVX2 without FMA: no contraction, the same results.
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__)) && !defined(ALAE_NO_CLONES)
#define ALAE_EW_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ALAE_EW_CLONES
#endif

namespace alae {

constexpr int64_t kChunk = 32768;         // elements per task
constexpr int64_t kParallelMin = 65536;   // smaller tensors run on the calling thread

// Runs f(i0, i1) over [0, n) items, each costing about `cost` elements of
// work, in tasks of at least kChunk elements, on the pool when large.
template <class F>
void run_chunks(int64_t n, int64_t cost, F&& f) {
  if (n <= 0) return;
  if (cost < 1) cost = 1;
  const int64_t total = n * cost;
  int64_t tasks = 1;
  if (total >= kParallelMin && num_threads() > 1) {
    tasks = total / kChunk;
    const int64_t cap = int64_t{num_threads()} * 16;
    if (tasks > cap) tasks = cap;
    if (tasks > n) tasks = n;
  }
  if (tasks <= 1) {
    f(int64_t{0}, n);
    return;
  }
  parallel_for(int(tasks), [&](int t) {
    const int64_t i0 = n * t / tasks, i1 = n * (t + 1) / tasks;
    if (i1 > i0) f(i0, i1);
  });
}

}  // namespace alae
