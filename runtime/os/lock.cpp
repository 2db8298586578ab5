#include "os/lock.hpp"

#include "goro/detail/spinlock.hpp"

namespace goro::rt {

void futex_lock::lock_slow() noexcept {
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
  while (state_.exchange(2, std::memory_order_acquire) != 0) futex_wait(&state_, 2, nullptr);
}

}  // namespace goro::rt
