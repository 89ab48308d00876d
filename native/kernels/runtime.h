// The runtime every kernel family shares: the thread pool (pool.cc) and
// aligned scratch memory.
#pragma once

#include <cstddef>
#include <functional>

namespace alae {

// ---- thread pool -------------------------------------------------------
// Total threads (the caller included) parallel regions may use.
int num_threads();
// Limit the threads used (1..pool size); 0 restores the default.
void set_num_threads(int n);
// Run f(0..n-1), spread over the pool; the caller takes part. Runs serially
// when called from inside a parallel region or while another thread holds
// the pool (so concurrent callers never deadlock).
void parallel_for(int n, const std::function<void(int)>& f);

// ---- aligned scratch ----------------------------------------------------
float* aligned_floats(size_t n);  // 64-byte aligned, nullptr on failure
void free_floats(float* p);
inline double* aligned_doubles(size_t n) { return reinterpret_cast<double*>(aligned_floats(2 * n)); }
inline void free_doubles(double* p) { free_floats(reinterpret_cast<float*>(p)); }

// A kernel's temporary buffer (partial sums of a split reduction), kept
// between calls: each thread has one buffer that only grows (up to
// kScratchKeep bytes; a larger request gets a one-off allocation). A fresh
// allocation of a few MB is a fresh mmap whose pages the OS faults in on
// first touch, on a VM often slower than the kernel's own work. One Scratch
// at a time per thread.
constexpr size_t kScratchKeep = size_t{64} << 20;
class Scratch {
 public:
  explicit Scratch(size_t bytes);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  // 64-byte aligned, nullptr on allocation failure.
  void* get() const { return p_; }
  float* floats() const { return static_cast<float*>(p_); }
  double* doubles() const { return static_cast<double*>(p_); }

 private:
  void* p_ = nullptr;
  bool owned_ = false;  // a one-off allocation, freed on destruction
};

}  // namespace alae
