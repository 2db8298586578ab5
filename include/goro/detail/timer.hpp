// A runtime timer for the public templates (goro::timer, goro::after,
// context deadlines): the fields they set, and an opaque part the runtime
// owns (which per-P heap holds the timer, and where).
#pragma once

#include <atomic>
#include <cstdint>

namespace goro::rt {
struct timer_access;  // runtime/time/timer_heap.hpp
}

namespace goro::detail {

// A timer in a per-P heap (Go's runtime timer). `fire` runs once `when`
// (now_ns clock) has passed, on a scheduler thread, with the heap's lock
// held: it must be short and must not block (ready a fiber, try_send on a
// channel). With period > 0 the timer is re-armed after each fire (missed
// periods are skipped, like Go's ticker). `drop`, if set, runs for a timer
// still pending when its runtime ends.
class timer_node {
 public:
  std::int64_t when = 0;
  std::int64_t period = 0;
  void (*fire)(timer_node* t, std::int64_t now) = nullptr;
  void (*drop)(timer_node* t) = nullptr;

 private:
  friend struct rt::timer_access;
  // The heap holding it (a runtime P) and its index there, under that
  // heap's lock; `home` is the heap it was last pushed to (kept after it
  // fires, so that timer_stop can wait out a fire in progress).
  std::atomic<void*> heap_{nullptr};
  std::atomic<void*> home_{nullptr};
  std::int32_t index_ = -1;
};

// Add a timer that is in no heap to the calling thread's P's heap (any P's
// when called from outside a fiber with a P). Must be called inside a
// runtime: from a fiber, or from a fire callback; else std::logic_error.
void timer_start(timer_node* t);
// Remove a pending timer. Returns true if it was pending (and so will not
// fire); false if it already fired (for a one-shot), was never started, or
// was stopped. When it returns, `fire` is not running and will not run.
// Callable from any thread.
bool timer_stop(timer_node* t) noexcept;

}  // namespace goro::detail
