// A small test-and-test-and-set lock for the runtime's short critical
// sections (channel and wait-group state). Not a fiber mutex: holders never
// park while holding it, except through goro::detail::park, which releases
// it on the scheduler stack after the fiber has switched out.
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

 private:
  void lock_slow() noexcept {
    for (unsigned spins = 0;;) {
      // relaxed: a hint to avoid bouncing the line; the exchange decides.
      while (locked_.load(std::memory_order_relaxed)) {
        if (spins++ < 64) {
          cpu_relax();
        } else {
          // The holder's thread may have been descheduled by the OS.
          std::this_thread::yield();
        }
      }
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
    }
  }

  std::atomic<bool> locked_{false};
};

}  // namespace goro::detail
