// A P's timers: a 4-ary min-heap on `when` (Go's per-P timer heap since
// 1.14), with its own lock. Any M may run the due timers of any P's heap;
// a timer stays in the heap it was started on until it fires or is stopped
// (timers are run, never moved, by other Ps).
//
// Each timer_node records which heap holds it and at what index
// (timer_access, below), so that stopping one is O(log n). `fire` callbacks
// run under the heap's lock: timer_stop, which takes the same lock, returns
// only when the callback is not running and can no longer run.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "goro/detail/timer.hpp"
#include "os/lock.hpp"

namespace goro::rt {

class timer_heap;

// The runtime-owned part of a timer_node.
struct timer_access {
  // The heap holding t, or null (acquire: pairs with the release store that
  // put it there, so its index is valid under that heap's lock).
  static timer_heap* holder(const detail::timer_node* t) noexcept {
    return static_cast<timer_heap*>(t->heap_.load(std::memory_order_acquire));
  }
  // The heap t was last pushed to (kept after it fires or is stopped).
  static timer_heap* home(const detail::timer_node* t) noexcept {
    return static_cast<timer_heap*>(t->home_.load(std::memory_order_relaxed));
  }
  static void set_holder(detail::timer_node* t, timer_heap* h) noexcept {
    if (h != nullptr) t->home_.store(h, std::memory_order_relaxed);  // read after acquiring heap_
    t->heap_.store(h, std::memory_order_release);
  }
  static std::int32_t& index(detail::timer_node* t) noexcept { return t->index_; }
};

class timer_heap {
 public:
  futex_lock lock;
  // `when` of the earliest timer, 0 when empty. Written under the lock;
  // read without it as a hint (relaxed: readers re-check under the lock).
  std::atomic<std::int64_t> earliest{0};

  // The rest: lock held.
  std::size_t size() const noexcept { return h_.size(); }
  bool empty() const noexcept { return h_.empty(); }
  detail::timer_node* top() const noexcept { return h_.empty() ? nullptr : h_[0].t; }
  // Add t, which is in no heap. True if it is now the earliest.
  bool push(detail::timer_node* t);
  // Take t, which is in this heap, out of it.
  void remove(detail::timer_node* t) noexcept;
  // Fire the timers whose `when` is at most now, earliest first, at most
  // `max` of them: a one-shot leaves the heap before its fire runs (fire may
  // free it); a periodic one is re-armed first, skipping the periods
  // already missed. True if any fired.
  bool run_due(std::int64_t now, std::size_t max = SIZE_MAX);
  // Take every timer out, calling its `drop` (the runtime ends).
  void drop_all() noexcept;

 private:
  // A heap slot: the timer and a copy of its `when` (equal while it is in
  // the heap), so that sifting compares within this array instead of
  // reading timers scattered over fibers' stacks; only the moved timers'
  // indexes are written.
  struct entry {
    std::int64_t when;
    detail::timer_node* t;
  };

  void set_at(std::size_t i, entry e) noexcept;
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;
  void remove_at(std::size_t i) noexcept;
  void update_earliest() noexcept;

  std::vector<entry> h_;
};

}  // namespace goro::rt
