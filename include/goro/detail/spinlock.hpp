// A small test-and-test-and-set lock for short critical sections of the
// primitives (channels, the semaphore, condition variables, wait groups,
// contexts, timers). Not a fiber mutex: holders never park while holding it,
// except through a parker (detail/wait.hpp), whose unlock callback releases
// it once the fiber has switched out (on g0, or on the next fiber's stack).
#pragma once

#include <atomic>
#include <thread>

namespace goro::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

class spinlock {
 public:
  void lock() noexcept {
    // acquire: pairs with the release in unlock().
    if (!locked_.exchange(true, std::memory_order_acquire)) return;
    lock_slow();
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  // The release store is the last access to *this: an owner that unlocks may
  // race with another fiber destroying the object right after it locks it.
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }
  // unlock() as a parker's unlock callback (detail/wait.hpp): arg is the
  // spinlock.
  static void unlock_fn(void* lock) noexcept { static_cast<spinlock*>(lock)->unlock(); }

 private:
  // Test-and-test-and-set with exponential backoff (Anderson 1990): after
  // each look at a held lock, wait twice as long (up to max_backoff pauses)
  // before looking again. Every look pulls the line into this core's cache
  // and makes the holder's next write miss; with the backoff, the core that
  // holds the line does several operations in a row instead of handing the
  // line over once per operation (docs/benchmarks.md has the measurements).
  // The cost is up to one backoff period of latency for a contended waiter.
  static constexpr unsigned max_backoff = 256;
  // Pauses spent waiting before also yielding the thread to the OS (the
  // holder's thread may have been descheduled). The backoff is not reset
  // after a lost race: a waiter that keeps losing looks less often (unfair,
  // like any backoff lock; critical sections here are a few dozen
  // instructions).
  static constexpr unsigned spin_limit = 4096;

  void lock_slow() noexcept {
    unsigned backoff = 1;
    for (unsigned spins = 0;;) {
      // relaxed: a hint to avoid bouncing the line; the exchange decides.
      while (locked_.load(std::memory_order_relaxed)) {
        if (spins < spin_limit) {
          for (unsigned i = 0; i < backoff; i++) cpu_relax();
          spins += backoff;
          if (backoff < max_backoff) backoff *= 2;
        } else {
          std::this_thread::yield();
        }
      }
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
    }
  }

  std::atomic<bool> locked_{false};
};

}  // namespace goro::detail
