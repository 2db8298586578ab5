// Fiber synchronisation: wait_group (Go's sync.WaitGroup).
#pragma once

#include <atomic>
#include <cstdint>

#include "goro/detail/runtime_api.hpp"
#include "goro/detail/spinlock.hpp"

namespace goro {

// Waits for a collection of fibers to finish: add(n) before starting work,
// done() when each piece ends, wait() blocks until the counter is zero.
//
// It is safe to destroy a wait_group as soon as wait() returns, even while
// the fiber whose done() released it is still inside done().
// A negative counter is a fatal error (the state is corrupt): it prints
// "goro: fatal: goro::wait_group::add: negative counter" and aborts.
// add/done/wait may be called from fibers and from threads outside the
// runtime (wait then blocks the thread).
class wait_group {
 public:
  wait_group() = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;
  ~wait_group();

  void add(std::int64_t delta);
  void done() { add(-1); }
  void wait();

  // The counter (a snapshot).
  std::int64_t count() const noexcept {
    return static_cast<std::int32_t>(state_.load(std::memory_order_relaxed) >> 32);
  }

 private:
  struct waiter {
    detail::parker p;
    waiter* next;
  };
  static void unlock_fn(void* l);

  // High 32 bits: the counter; low 32 bits: fibers registered in wait().
  // One word so that done() can tell, in the same atomic step that drops the
  // counter to zero, whether anyone waits (and otherwise never touch *this
  // again).
  std::atomic<std::uint64_t> state_{0};
  detail::spinlock lock_;
  waiter* waiters_ = nullptr;    // parked waiters, under lock_
  std::uint32_t tokens_ = 0;     // wake-ups for registered waiters not yet parked, under lock_
};

}  // namespace goro
