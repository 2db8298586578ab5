#include "sched/lock.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "goro/detail/spinlock.hpp"

namespace goro::rt {

void futex_wait(std::atomic<std::uint32_t>* addr, std::uint32_t expected) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), FUTEX_WAIT | FUTEX_PRIVATE_FLAG, expected, nullptr,
          nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>* addr, int count) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, count, nullptr,
          nullptr, 0);
}

void mutex::lock_slow() noexcept {
  // Spin while the holder (running on another CPU, most likely) finishes.
  for (int i = 0; i < 200; i++) {
    detail::cpu_relax();
    // relaxed peek; the CAS decides (acquire, as in lock()).
    if (state_.load(std::memory_order_relaxed) == 0) {
      std::uint32_t c = 0;
      if (state_.compare_exchange_weak(c, 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
    }
  }
  // Sleep. Marking the state 2 makes the unlocker wake us; we may then own
  // the lock with state 2 although nobody else waits (one spurious wake).
  while (state_.exchange(2, std::memory_order_acquire) != 0) futex_wait(&state_, 2);
}

}  // namespace goro::rt
