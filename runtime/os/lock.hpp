// The runtime's internal lock (Go's runtime mutex, lock_futex.go): guards
// the sched state, free lists, timer heaps and the list of all Gs. Named
// futex_lock so that it is never confused with goro::mutex, the fiber mutex.
// Critical sections are a few dozen instructions, so a contended lock first
// spins briefly; only then does the waiter sleep on a futex (std::mutex goes
// to the kernel at once, and a futex round trip costs microseconds on a
// virtual machine). Meets BasicLockable, for std::lock_guard and
// std::unique_lock.
#pragma once

#include <atomic>
#include <cstdint>

#include "os/futex.hpp"

namespace goro::rt {

class futex_lock {
 public:
  void lock() noexcept {
    std::uint32_t c = 0;
    // acquire: pairs with the release in unlock().
    if (state_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
    lock_slow();
  }
  void unlock() noexcept {
    // release: publishes the critical section to the next owner.
    if (state_.exchange(0, std::memory_order_release) == 2) futex_wake(&state_, 1);
  }

 private:
  void lock_slow() noexcept;
  // 0 unlocked, 1 locked, 2 locked and someone may sleep on it.
  std::atomic<std::uint32_t> state_{0};
};

}  // namespace goro::rt
