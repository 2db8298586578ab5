// goro::wait_group (Go's sync.WaitGroup).
//
// state_ packs the counter (high 32 bits) and the number of registered
// waiters (low 32 bits), so that the add() which drops the counter to zero
// learns in the same atomic step whether anyone waits. If nobody does, it
// never touches the object again (its owner may destroy it as soon as a
// wait() returns). If someone does, those waiters cannot return before it
// wakes them, so the object stays alive while it does.
//
// A waiter registers (CAS on state_) and then parks under lock_. The waker
// may run between the two, so it leaves one token per waiter it did not
// find parked; a late waiter consumes a token instead of parking.
#include "goro/sync.hpp"

#include <string>

namespace goro {

wait_group::~wait_group() {
  if (waiters_ != nullptr) detail::fatal("goro::wait_group::~wait_group", "destroyed while fibers wait on it");
}

void wait_group::unlock_fn(void* l) { static_cast<detail::spinlock*>(l)->unlock(); }

void wait_group::add(std::int64_t delta) {
  if (delta > INT32_MAX || delta < INT32_MIN) detail::fatal("goro::wait_group::add", "delta out of range");
  const std::uint64_t d = static_cast<std::uint64_t>(delta) << 32;
  // acq_rel: release publishes this fiber's work to the waiter that sees the
  // counter reach zero; acquire makes every earlier done() visible to the
  // one that brings it to zero (and wakes the waiters).
  const std::uint64_t s = state_.fetch_add(d, std::memory_order_acq_rel) + d;
  const auto v = static_cast<std::int32_t>(s >> 32);
  const auto w = static_cast<std::uint32_t>(s);
  if (v < 0) detail::fatal("goro::wait_group::add", "negative counter");
  if (v > 0 || w == 0) return;
  // Counter is zero and w fibers registered: reset and release them all.
  // relaxed: registered waiters only read state_ again after we wake them.
  state_.store(0, std::memory_order_relaxed);
  lock_.lock();
  waiter* list = waiters_;
  waiters_ = nullptr;
  std::uint32_t parked = 0;
  for (waiter* x = list; x; x = x->next) parked++;
  tokens_ += w - parked;
  lock_.unlock();
  while (list) {
    waiter* next = list->next;  // before ready(): the waiter's stack may vanish
    detail::parker_wake(list->p);
    list = next;
  }
}

void wait_group::wait() {
  // acquire: pairs with the release of the add() that dropped the counter.
  std::uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if ((s >> 32) == 0) return;
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) break;
  }
  lock_.lock();
  if (tokens_ > 0) {
    tokens_--;
    lock_.unlock();
    return;
  }
  waiter me{{}, waiters_};
  detail::parker_init(me.p);
  waiters_ = &me;
  detail::parker_block(me.p, detail::wait_reason::wait_group, &unlock_fn, &lock_);
}

}  // namespace goro
