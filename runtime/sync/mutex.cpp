// goro::mutex: the slow paths.
//
// mutex follows the design of Go's sync.Mutex (state word: locked, woken,
// starving, waiter count; a runtime semaphore to park on):
//  - Normal mode: waiters queue FIFO, but a woken waiter competes with
//    fibers arriving right now, which usually win (they are running and
//    hot). A waiter that loses goes back to the front of the queue.
//  - A waiter that has waited more than 1 ms sets the starving bit. In
//    starvation mode unlock hands the mutex to the oldest waiter directly;
//    arrivals do not try to take it and queue at the back. The last waiter,
//    or one that waited less than 1 ms, switches back to normal mode.
#include <algorithm>
#include <chrono>

#include "debug/fatal.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
#include "sched/caller.hpp"
#include "sched/p.hpp"
#include "sched/runtime.hpp"

namespace goro {

namespace {

constexpr auto starvation_threshold = std::chrono::milliseconds(1);

// Spin only when it may pay off: a few rounds, on a multi-P runtime, and
// only while this P has nothing else to run (Go's sync_runtime_canSpin).
bool can_spin(int iter) noexcept {
  if (iter >= 4) return false;
  const rt::caller c = rt::classify();
  return c.m != nullptr && c.m->p != nullptr && c.m->rt->procs > 1 && !c.m->p->has_work();
}

void spin() noexcept {
  for (int i = 0; i < 30; i++) detail::cpu_relax();
}

}  // namespace

void mutex::lock_slow() {
  using steady = std::chrono::steady_clock;
  steady::time_point wait_start{};
  bool waited = false;    // queued at least once: requeue at the front
  bool starving = false;  // we have waited past the threshold
  bool awoke = false;     // we own the woken bit
  int iter = 0;
  std::uint32_t old = state_.load(std::memory_order_relaxed);
  for (;;) {
    if ((old & (locked_bit | starving_bit)) == locked_bit && can_spin(iter)) {
      // Tell unlock not to wake anybody: we are awake and about to take it.
      if (!awoke && !(old & woken_bit) && (old >> waiter_shift) != 0 &&
          state_.compare_exchange_weak(old, old | woken_bit, std::memory_order_relaxed))
        awoke = true;
      spin();
      iter++;
      old = state_.load(std::memory_order_relaxed);
      continue;
    }
    std::uint32_t next = old;
    if (!(old & starving_bit)) next |= locked_bit;  // a starving mutex goes to the queue's head, not to us
    if (old & (locked_bit | starving_bit)) next += 1u << waiter_shift;
    if (starving && (old & locked_bit)) next |= starving_bit;
    if (awoke) {
      if (!(next & woken_bit)) rt::fatal("goro::mutex::lock", "inconsistent mutex state");
      next &= ~woken_bit;
    }
    // acquire: when this takes the lock, see the previous owner's writes.
    if (!state_.compare_exchange_weak(old, next, std::memory_order_acquire, std::memory_order_relaxed)) continue;
    if (!(old & (locked_bit | starving_bit))) return;  // locked it

    const bool lifo = waited;
    if (!waited) {
      wait_start = steady::now();
      waited = true;
    }
    detail::note_wait_edge(this, holder_.load(std::memory_order_relaxed));
    sema_.acquire(detail::wait_reason::mutex, lifo, &withdraw_waiter, this);
    detail::note_wait_edge(nullptr, 0);  // the sema may not have parked (park clears it otherwise)
    starving = starving || steady::now() - wait_start > starvation_threshold;
    old = state_.load(std::memory_order_relaxed);
    if (old & starving_bit) {
      // Handed to us: the state still shows it unlocked, with us counted
      // as a waiter. Fix both in one step.
      if ((old & (locked_bit | woken_bit)) || (old >> waiter_shift) == 0)
        rt::fatal("goro::mutex::lock", "inconsistent mutex state");
      std::uint32_t delta = locked_bit - (1u << waiter_shift);  // wraps: +locked, -one waiter
      if (!starving || (old >> waiter_shift) == 1) delta -= starving_bit;  // back to normal mode
      // acq_rel: ownership came through the semaphore (which ordered the
      // unlocker's writes); keep later accesses after this update.
      state_.fetch_add(delta, std::memory_order_acq_rel);
      return;
    }
    awoke = true;
    iter = 0;
  }
}

void mutex::withdraw_waiter(void* self) noexcept {
  // A waiter parked on sema_ and counted in state_ leaves without the lock
  // (the runtime unwinds it; no fiber runs meanwhile, so no unlock is half
  // done). It stops counting; the last waiter to leave also ends
  // starvation mode, whose hand-off needs a waiter to hand to. relaxed: no
  // data is handed over, and the locked bit, which orders the critical
  // sections, is untouched (an RMW keeps their release sequence).
  auto* m = static_cast<mutex*>(self);
  std::uint32_t old = m->state_.load(std::memory_order_relaxed);
  for (;;) {
    if ((old >> waiter_shift) == 0) rt::fatal("goro::mutex::lock", "inconsistent mutex state: cancelled waiter not counted");
    std::uint32_t next = old - (1u << waiter_shift);
    if ((next >> waiter_shift) == 0) next &= ~starving_bit;
    if (m->state_.compare_exchange_weak(old, next, std::memory_order_relaxed)) return;
  }
}

void mutex::unlock_slow(std::uint32_t s) {
  if (((s + locked_bit) & locked_bit) == 0) rt::fatal("goro::mutex::unlock", "unlock of unlocked mutex");
  if (!(s & starving_bit)) {
    std::uint32_t old = s;
    for (;;) {
      // Nobody waits, or a fiber already took the lock, or one is awake
      // and competing, or the mutex went into starvation mode: done.
      if ((old >> waiter_shift) == 0 || (old & (locked_bit | woken_bit | starving_bit))) return;
      const std::uint32_t next = (old - (1u << waiter_shift)) | woken_bit;
      if (state_.compare_exchange_weak(old, next, std::memory_order_relaxed)) {
        sema_.release();
        return;
      }
    }
  }
  // Starvation mode: the oldest waiter owns the mutex now (it went to our
  // runnext and runs when we next switch). Go also yields to it here; we do
  // not: unlock must never switch fibers, since callers (a condition
  // variable's wait, a lock_guard inside goro::blocking) may hold a
  // spinlock or have no P to yield.
  sema_.release();
}

bool mutex::try_lock_until_ns(std::int64_t deadline) {
  std::int64_t backoff = 20'000;
  for (;;) {
    if (try_lock()) return true;
    const std::int64_t now = detail::now_ns();
    if (now >= deadline) return false;
    detail::sleep_until_ns(std::min(now + backoff, deadline));
    backoff = std::min<std::int64_t>(backoff * 2, 1'000'000);
  }
}

}  // namespace goro
