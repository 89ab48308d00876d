// A small persistent thread pool. Threads = available cores (the affinity
// mask on Linux), overridable by ALAE_THREADS. Workers spin briefly after a
// region ends, then sleep on a condition variable, so back-to-back kernels
// pay no wake-up latency and an idle process burns no CPU.
#include "runtime.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#if defined(_WIN32)
#include <malloc.h>
#endif
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <immintrin.h>
#define ALAE_PAUSE() _mm_pause()
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define ALAE_PAUSE() asm volatile("yield")
#else
#define ALAE_PAUSE() ((void)0)
#endif

namespace alae {
namespace {

int detect_threads() {
  if (const char* env = std::getenv("ALAE_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) return n > 256 ? 256 : n;
  }
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n >= 1) return n;
  }
#endif
  unsigned n = std::thread::hardware_concurrency();
  return n >= 1 ? static_cast<int>(n) : 1;
}

thread_local bool tl_in_region = false;

class Pool {
 public:
  explicit Pool(int n) : size_(n) {
    for (int i = 1; i < n; ++i) {
      std::thread t([this, i] { work(i); });
      t.detach();  // the process owns the workers until exit
    }
  }

  int size() const { return size_; }

  // Runs f(0..n-1) on up to `width` threads. Returns false (running nothing)
  // when another thread holds the pool; the caller then runs serially.
  bool run(int n, int width, const std::function<void(int)>& f) {
    std::unique_lock<std::mutex> busy(use_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lk(m_);
      job_ = &f;
      ntasks_ = n;
      width_ = width;
      next_.store(0, std::memory_order_relaxed);
      pending_.store(n, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    tl_in_region = true;
    drain(f, n);
    tl_in_region = false;
    // Wait until every task finished and every worker that joined left.
    for (int spin = 0; spin < 4000; ++spin) {
      if (pending_.load(std::memory_order_acquire) == 0 && active_.load(std::memory_order_acquire) == 0) break;
      ALAE_PAUSE();
    }
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [this] {
      return pending_.load(std::memory_order_acquire) == 0 && active_.load(std::memory_order_acquire) == 0;
    });
    job_ = nullptr;  // a worker waking late finds nothing to do
    return true;
  }

 private:
  void drain(const std::function<void(int)>& f, int n) {
    for (;;) {
      int i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= n) break;
      f(i);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(m_);
        done_cv_.notify_all();
      }
    }
  }

  void work(int index) {
    tl_in_region = true;  // regions opened inside tasks run serially
    uint64_t seen = 0;
    for (;;) {
      // Spin a little for the next region (back-to-back kernels), then sleep.
      for (int spin = 0; spin < 4000 && gen_.load(std::memory_order_acquire) == seen; ++spin) ALAE_PAUSE();
      const std::function<void(int)>* job = nullptr;
      int n = 0;
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return gen_.load(std::memory_order_acquire) != seen; });
        seen = gen_.load(std::memory_order_acquire);
        if (job_ && index < width_) {
          job = job_;
          n = ntasks_;
          active_.fetch_add(1, std::memory_order_acq_rel);
        }
      }
      if (!job) continue;
      drain(*job, n);
      {
        std::lock_guard<std::mutex> lk(m_);
        active_.fetch_sub(1, std::memory_order_acq_rel);
        done_cv_.notify_all();
      }
    }
  }

  const int size_;
  std::mutex use_;  // one region at a time
  std::mutex m_;    // guards job_, ntasks_, width_, active_ transitions
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* job_ = nullptr;
  int ntasks_ = 0;
  int width_ = 0;
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> next_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> active_{0};
};

std::once_flag pool_once;
Pool* pool_ptr = nullptr;  // never destroyed: workers are detached
std::atomic<int> thread_limit{0};

Pool& pool() {
  std::call_once(pool_once, [] { pool_ptr = new Pool(detect_threads()); });
  return *pool_ptr;
}

}  // namespace

int num_threads() {
  int size = pool().size();
  int lim = thread_limit.load(std::memory_order_relaxed);
  return lim >= 1 && lim < size ? lim : size;
}

void set_num_threads(int n) { thread_limit.store(n < 0 ? 0 : n, std::memory_order_relaxed); }

void parallel_for(int n, const std::function<void(int)>& f) {
  if (n <= 0) return;
  int width = num_threads();
  if (n == 1 || width <= 1 || tl_in_region || !pool().run(n, width, f)) {
    for (int i = 0; i < n; ++i) f(i);
  }
}

float* aligned_floats(size_t n) {
  size_t bytes = (n * sizeof(float) + 63) & ~static_cast<size_t>(63);
  if (bytes == 0) bytes = 64;
#if defined(_WIN32)
  return static_cast<float*>(_aligned_malloc(bytes, 64));
#else
  void* p = nullptr;
  if (posix_memalign(&p, 64, bytes) != 0) return nullptr;
  return static_cast<float*>(p);
#endif
}

void free_floats(float* p) {
#if defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

namespace {

struct SlotBuffer {
  float* p = nullptr;
  size_t bytes = 0;
  ~SlotBuffer() { free_floats(p); }
};

thread_local SlotBuffer scratch_buffer;

}  // namespace

Scratch::Scratch(size_t bytes) {
  if (bytes > kScratchKeep) {
    p_ = aligned_floats((bytes + sizeof(float) - 1) / sizeof(float));
    owned_ = true;
    return;
  }
  SlotBuffer& b = scratch_buffer;
  if (b.bytes < bytes) {
    free_floats(b.p);
    b.p = aligned_floats((bytes + sizeof(float) - 1) / sizeof(float));
    b.bytes = b.p ? bytes : 0;
  }
  p_ = b.p;
}

Scratch::~Scratch() {
  if (owned_) free_floats(static_cast<float*>(p_));
}

}  // namespace alae
