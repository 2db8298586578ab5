// A one-shot sleep/wake-up event for an M (Go's note: notesleep /
// notewakeup / noteclear), on a Linux futex. Used to park idle Ms: the
// parked thread sleeps in the kernel and costs no CPU.
//
// We use the futex directly rather than std::atomic::wait because timed
// sleeps (an idle M sleeping until the next timer) need a timeout, and the
// exact semantics (no spinning phase, one waiter) are easy to state here.
#pragma once

#include <atomic>
#include <cstdint>

namespace goro::rt {

class note {
 public:
  // Block until wakeup() has been called (returns at once if it already was).
  void sleep() noexcept;
  // Like sleep, but give up after `ns` nanoseconds. Returns true if woken.
  bool sleep_for(std::int64_t ns) noexcept;
  // Wake the sleeper (or let its next sleep return at once). At most once
  // between clears.
  void wakeup() noexcept;
  // Whether wakeup() has been called since the last clear (acquire, as sleep).
  bool signalled() const noexcept { return key_.load(std::memory_order_acquire) != 0; }
  // Re-arm. Only the sleeper calls it, after it woke.
  void clear() noexcept { key_.store(0, std::memory_order_relaxed); }

 private:
  // 0: not signalled; 1: signalled. release/acquire pair the waker's writes
  // (e.g. M::nextp) with the sleeper's reads after it wakes.
  std::atomic<std::uint32_t> key_{0};
};

}  // namespace goro::rt
