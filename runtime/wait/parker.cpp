// The parker (goro/detail/wait.hpp): one blocked party, fiber or thread.
// A fiber parks (its thread runs other fibers meanwhile); a thread, or a
// fiber inside goro::blocking, blocks its thread on a futex. Timed waits
// race a timer against the wakers on parker::claimed: exactly one wins.
#include <cerrno>

#include "debug/fatal.hpp"
#include "goro/detail/timer.hpp"
#include "goro/detail/wait.hpp"
#include "goro/errors.hpp"
#include "os/clock.hpp"
#include "os/futex.hpp"
#include "sched/caller.hpp"
#include "sched/g.hpp"
#include "sched/park.hpp"

namespace goro::detail {

namespace {

// A timed party whose timeout wins: open -> timed_out.
bool claim_timeout(parker& p) noexcept {
  claim_state open = claim_state::open;
  // acq_rel / acquire: as parker_claim.
  return p.claimed.compare_exchange_strong(open, claim_state::timed_out, std::memory_order_acq_rel,
                                           std::memory_order_acquire);
}

// A thread's wait for parker_wake's store.
void wait_woken(parker& p) noexcept {
  // acquire: pairs with parker_wake's release store, so the waker's writes
  // (the value handed over, the select case) are visible after we return.
  while (p.woken.load(std::memory_order_acquire) == 0) {
    const int err = rt::futex_wait(&p.woken, 0, nullptr);
    if (err != 0 && err != EAGAIN && err != EINTR) rt::fatal("goro::detail::parker", "futex wait failed");
  }
}

struct timed_park : timer_node {
  parker* p;
  void (*unlock)(void*);
  void* arg;
};

}  // namespace

void parker_init(parker& p) noexcept {
  // A fiber parks; inside goro::blocking (its thread is given away) it
  // blocks its thread like a thread outside the runtime.
  const rt::caller c = rt::classify();
  p.g = c.kind == rt::caller_kind::fiber ? c.g : nullptr;
}

void parker_block(parker& p, wait_reason why, void (*unlock)(void*), void* arg) {
  if (p.g != nullptr) {
    // Where the runtime finds our cancel hook while we are parked
    // (sched/leftover.cpp). Only this fiber writes it, only while running.
    p.g->parker = &p;
    rt::park(why, unlock, arg);
    p.g->parker = nullptr;
    // Set before the runtime readied us (ordered by the ready).
    if (p.cancelled) throw goro::fiber_cancelled();
    return;
  }
  unlock(arg);
  wait_woken(p);
}

void parker_wake(parker& p) noexcept {
  if (p.g != nullptr) {
    rt::ready(p.g);
    return;
  }
  // The blocked thread may return (and p vanish with its stack frame) as
  // soon as it sees the store; the futex wake only uses the address, which
  // stays mapped (a thread's stack outlives this call; a stale wake-up on
  // reused memory is a spurious wake-up, which futex waiters tolerate).
  p.woken.store(1, std::memory_order_release);
  rt::futex_wake(&p.woken, 1);
}

bool parker_block_until(parker& p, std::int64_t deadline, wait_reason why, void (*unlock)(void*), void* arg) {
  if (p.g == nullptr) {
    // A thread: a futex wait with a timeout.
    unlock(arg);
    for (;;) {
      // acquire: pairs with parker_wake's release store.
      if (p.woken.load(std::memory_order_acquire) != 0) return true;
      const std::int64_t left = deadline - rt::now_ns();
      if (left <= 0) break;
      const timespec ts = rt::to_timespec(left);
      rt::futex_wait(&p.woken, 0, &ts);
    }
    if (claim_timeout(p)) return false;
    // A waker claimed us first: its wake-up is on its way.
    wait_woken(p);
    return true;
  }
  timed_park tp;
  tp.when = deadline;
  tp.p = &p;
  tp.unlock = unlock;
  tp.arg = arg;
  tp.fire = [](timer_node* t, std::int64_t) {
    auto* x = static_cast<timed_park*>(t);
    if (claim_timeout(*x->p)) parker_wake(*x->p);
  };
  // Once we have switched out: start the timer *before* releasing
  // the caller's lock. A waker needs that lock to find us, so the timer is
  // in its heap before anyone can wake us and run timer_stop below.
  rt::park(why, [](void* a) {
    auto* x = static_cast<timed_park*>(a);
    // Read x first: once the timer is in a heap it may fire at once and
    // resume the fiber, whose frame (and x with it) then goes away.
    void (*release)(void*) = x->unlock;
    void* lock = x->arg;
    timer_start(x);
    release(lock);
  }, &tp);
  // acquire: the timer's claim (and its wake-up) came before we resumed.
  if (p.claimed.load(std::memory_order_acquire) == claim_state::timed_out) return false;  // the timer won (and is gone)
  // A waker won: stop the timer; if it is firing right now, timer_stop
  // waits for it, and its claim fails.
  timer_stop(&tp);
  return true;
}

}  // namespace goro::detail
