#include "os/note.hpp"

#include <cerrno>

#include "debug/fatal.hpp"
#include "os/clock.hpp"
#include "os/futex.hpp"

namespace goro::rt {

void note::sleep() noexcept {
  // acquire: pairs with wakeup's release store.
  while (key_.load(std::memory_order_acquire) == 0) {
    int err = futex_wait(&key_, 0, nullptr);
    if (err != 0 && err != EAGAIN && err != EINTR) fatal("note::sleep", "futex wait failed");
  }
}

bool note::sleep_for(std::int64_t ns) noexcept {
  const std::int64_t deadline = now_ns() + ns;
  while (key_.load(std::memory_order_acquire) == 0) {  // pairs with wakeup's release
    std::int64_t left = deadline - now_ns();
    if (left <= 0) return false;
    const timespec ts = to_timespec(left);
    int err = futex_wait(&key_, 0, &ts);
    if (err != 0 && err != EAGAIN && err != EINTR && err != ETIMEDOUT) fatal("note::sleep_for", "futex wait failed");
  }
  return true;
}

void note::wakeup() noexcept {
  // release: publishes what the waker wrote for the sleeper.
  std::uint32_t old = key_.exchange(1, std::memory_order_release);
  if (old != 0) fatal("note::wakeup", "double wakeup");
  futex_wake(&key_, 1);
}

}  // namespace goro::rt
