// goro::wait_group (Go's sync.WaitGroup).
//
// state_ packs the counter (high 32 bits), a generation (8 bits, bumped by
// every drop to zero that releases waiters) and the number of registered
// waiters (low 24 bits), so that the add() which drops the counter to zero
// learns in the same atomic step whether anyone waits. If nobody does, it
// never touches the object again (its owner may destroy it as soon as a
// wait() returns). If someone does, those waiters cannot return before it
// wakes them, so the object stays alive while it does.
//
// A waiter registers (CAS on state_) and then parks under lock_. The waker
// may run between the two, so it leaves one token per waiter it did not
// find parked; a late waiter consumes a token instead of parking.
//
// A timed waiter that gives up must undo its registration: if its
// generation is still current and the counter above zero, it takes itself
// out of state_ by CAS and leaves the list. Otherwise the add() that dropped
// the counter to zero already counted it and is about to take the list: the
// waiter stays listed (its claim makes add() skip waking it) and waits until
// add() has taken it, so that no token is left for it (a stray token would
// release a later waiter early) and add() is done with the object.
#include "goro/sync.hpp"
#include "goro/detail/thread_role.hpp"

#include <thread>

#include "debug/fatal.hpp"
#include "goro/this_fiber.hpp"

namespace goro {

wait_group::~wait_group() {
  if (!waiters_.empty()) rt::fatal("goro::wait_group::~wait_group", "destroyed while fibers wait on it");
}

void wait_group::add(std::int64_t delta) {
  goro::detail::note_thread_use();
  if (delta > INT32_MAX || delta < INT32_MIN) rt::fatal("goro::wait_group::add", "delta out of range");
  const std::uint64_t d = static_cast<std::uint64_t>(delta) << 32;
  // acq_rel: release publishes this fiber's work to the waiter that sees the
  // counter reach zero; acquire makes every earlier done() visible to the
  // one that brings it to zero (and wakes the waiters).
  const std::uint64_t s = state_.fetch_add(d, std::memory_order_acq_rel) + d;
  const auto v = static_cast<std::int32_t>(s >> 32);
  const auto w = static_cast<std::uint32_t>(s & waiter_mask);
  if (v < 0) rt::fatal("goro::wait_group::add", "negative counter");
  if (v > 0 || w == 0) return;
  // Counter is zero and w fibers registered: reset (next generation) and
  // release them all. relaxed: registered waiters only read state_ again
  // after we wake them (or, timed out, under lock_, which we take next).
  state_.store(((s >> 24) + 1) << 24 & gen_mask, std::memory_order_relaxed);
  detail::wait_list wake;
  lock_.lock();
  std::uint32_t listed = 0;
  while (detail::waiter* x = waiters_.head) {
    waiters_.remove(x);
    listed++;
    // A timed waiter whose timeout won is counted but not woken.
    if (!x->must_claim || detail::parker_claim(*x->who)) wake.push_back(x);
  }
  tokens_ += w - listed;
  lock_.unlock();
  while (detail::waiter* x = wake.head) {
    wake.head = x->next;  // before waking: the waiter's stack may go
    detail::parker_wake(*x->who);
  }
}

bool wait_group::register_waiter(std::uint64_t* gen) noexcept {
  // acquire: pairs with the release of the add() that dropped the counter.
  std::uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if ((s >> 32) == 0) return false;
    if ((s & waiter_mask) == waiter_mask) rt::fatal("goro::wait_group::wait", "too many waiters");
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      if (gen) *gen = s & gen_mask;
      return true;
    }
  }
}

// A party blocked in wait(), for its cancel hook.
struct wait_group::blocked {
  wait_group* wg;
  detail::waiter* w;
  std::uint64_t gen;  // the generation it registered in
};

bool wait_group::cancel_blocked(void* arg) noexcept {
  // Withdraw the registration, as a timed-out wait does, but without ever
  // waiting: if the counter reached zero in our generation, the add() that
  // did it is about to take the list and wake us, so the wake-up is not
  // ours to cancel. lock_ held: that add() cannot have taken the list yet.
  auto* b = static_cast<blocked*>(arg);
  wait_group* wg = b->wg;
  wg->lock_.lock();
  bool ours = b->w->queued;
  while (ours) {
    // acquire / acq_rel: as wait_until_ns's withdrawal.
    std::uint64_t s = wg->state_.load(std::memory_order_acquire);
    if ((s & gen_mask) != b->gen || (s >> 32) == 0) {
      ours = false;
    } else if ((s & waiter_mask) == 0) {
      rt::fatal("goro::wait_group::wait", "inconsistent state: cancelled waiter not registered");
    } else if (wg->state_.compare_exchange_weak(s, s - 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      wg->waiters_.remove(b->w);
      break;
    }
  }
  wg->lock_.unlock();
  return ours;
}

void wait_group::wait() {
  goro::detail::note_thread_use();
  std::uint64_t gen = 0;
  if (!register_waiter(&gen)) return;
  lock_.lock();
  if (tokens_ > 0) {
    tokens_--;
    lock_.unlock();
    return;
  }
  detail::parker p;
  detail::parker_init(p);
  detail::waiter me;
  me.who = &p;
  blocked self{this, &me, gen};
  p.cancel = &cancel_blocked;
  p.cancel_arg = &self;
  waiters_.push_back(&me);
  detail::parker_block(p, detail::wait_reason::wait_group, &detail::spinlock::unlock_fn, &lock_);
}

bool wait_group::wait_until_ns(std::int64_t deadline) {
  goro::detail::note_thread_use();
  std::uint64_t gen = 0;
  if (!register_waiter(&gen)) return true;
  lock_.lock();
  if (tokens_ > 0) {
    tokens_--;
    lock_.unlock();
    return true;
  }
  detail::parker p;
  detail::parker_init(p);
  detail::waiter me;
  me.who = &p;
  me.must_claim = true;
  waiters_.push_back(&me);
  if (deadline > detail::now_ns()) {
    if (detail::parker_block_until(p, deadline, detail::wait_reason::wait_group, &detail::spinlock::unlock_fn, &lock_))
      return true;  // released by the zero-drop
    lock_.lock();
  } else {
    // Never blocked, and we hold lock_, so nobody can claim us: time out.
    p.claimed.store(detail::claim_state::timed_out, std::memory_order_relaxed);
  }
  // Timed out; lock_ held. Leave only in a state where add() will not
  // touch us (or *this) again.
  for (;;) {
    if (!me.queued) {
      // The zero-drop took the list with us in it: it counted us (no token
      // left for us) and has finished with *this (it held lock_ until then).
      lock_.unlock();
      return true;
    }
    std::uint64_t s = state_.load(std::memory_order_acquire);
    if ((s & gen_mask) == gen && (s >> 32) != 0) {
      // Our generation is live and the counter above zero: withdraw our
      // registration (acquire: as the loads above).
      if (state_.compare_exchange_weak(s, s - 1, std::memory_order_acquire, std::memory_order_acquire)) {
        waiters_.remove(&me);
        lock_.unlock();
        return false;
      }
      continue;
    }
    // The counter reached zero in our generation: that add() is on its way
    // to take the list (with us in it, not to be woken: our claim is timed_out)
    // under lock_. Let it.
    lock_.unlock();
    if (p.g != nullptr) {
      this_fiber::yield();
    } else {
      std::this_thread::yield();
    }
    lock_.lock();
  }
}

}  // namespace goro
