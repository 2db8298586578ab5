// The runtime semaphore behind the sync primitives, and the condition
// variable. Both keep a FIFO of parkers under a spinlock; a wake-up is
// decided under that lock, so a waiter is woken exactly once.
#include "debug/fatal.hpp"
#include "goro/sync.hpp"

namespace goro {

namespace detail {

sema::~sema() {
  if (!waiters_.empty()) rt::fatal("goro::detail::sema", "destroyed while fibers wait on it");
}

void sema::unlock_fn(void* l) noexcept { static_cast<spinlock*>(l)->unlock(); }

void sema::acquire(wait_reason why, bool lifo) {
  lock_.lock();
  if (tokens_ > 0) {
    tokens_--;
    lock_.unlock();
    return;
  }
  wait_node w;
  parker_init(w.p);
  if (lifo) waiters_.push_front(&w); else waiters_.push_back(&w);
  // Woken by release(), which gave us its token.
  parker_block(w.p, why, &unlock_fn, &lock_);
}

bool sema::acquire_until(wait_reason why, std::int64_t deadline) {
  lock_.lock();
  if (tokens_ > 0) {
    tokens_--;
    lock_.unlock();
    return true;
  }
  if (deadline <= now_ns()) {
    lock_.unlock();
    return false;
  }
  wait_node w;
  w.timed = true;
  parker_init(w.p);
  waiters_.push_back(&w);
  if (parker_block_until(w.p, deadline, why, &unlock_fn, &lock_)) return true;  // release() claimed us: a token
  // Timed out: release() skips us (its claim fails); leave the queue.
  lock_.lock();
  waiters_.remove(&w);
  lock_.unlock();
  return false;
}

bool sema::try_acquire() noexcept {
  lock_.lock();
  const bool ok = tokens_ > 0;
  if (ok) tokens_--;
  lock_.unlock();
  return ok;
}

void sema::release(std::uint64_t n) noexcept {
  wait_list wake;
  lock_.lock();
  for (; n > 0; n--) {
    wait_node* w = waiters_.pop();  // skips timed-out waiters
    if (w == nullptr) break;
    wake.push_back(w);
  }
  tokens_ += n;
  lock_.unlock();
  while (wait_node* w = wake.head) {
    wake.head = w->next;  // before waking: the waiter's stack may go
    parker_wake(w->p);
  }
}

}  // namespace detail

condition_variable::~condition_variable() {
  if (!waiters_.empty()) rt::fatal("goro::condition_variable", "destroyed while fibers wait on it");
}

void condition_variable::unlock_fn(void* l) noexcept { static_cast<detail::spinlock*>(l)->unlock(); }

void condition_variable::wait_impl(void (*unlock)(void*), void* user_lock) {
  detail::wait_node w;
  detail::parker_init(w.p);
  lock_.lock();
  waiters_.push_back(&w);
  // Queued before the user's lock is released: a notifier that changed the
  // state under that lock finds us. (User unlocks never block; goro::mutex
  // at most wakes a waiter.)
  unlock(user_lock);
  detail::parker_block(w.p, detail::wait_reason::cond, &unlock_fn, &lock_);
}

bool condition_variable::wait_until_impl(void (*unlock)(void*), void* user_lock, std::int64_t deadline) {
  detail::wait_node w;
  w.timed = true;
  detail::parker_init(w.p);
  lock_.lock();
  waiters_.push_back(&w);
  unlock(user_lock);
  if (detail::parker_block_until(w.p, deadline, detail::wait_reason::cond, &unlock_fn, &lock_)) return true;
  // The timeout won: notifiers skip us; leave the queue.
  lock_.lock();
  waiters_.remove(&w);
  lock_.unlock();
  return false;
}

void condition_variable::notify_one() noexcept {
  lock_.lock();
  detail::wait_node* w = waiters_.pop();  // the oldest that has not timed out
  lock_.unlock();
  if (w) detail::parker_wake(w->p);
}

void condition_variable::notify_all() noexcept {
  detail::wait_list wake;
  lock_.lock();
  while (detail::wait_node* w = waiters_.pop()) wake.push_back(w);
  lock_.unlock();
  while (detail::wait_node* w = wake.head) {
    wake.head = w->next;  // before waking: the waiter's stack may go
    detail::parker_wake(w->p);
  }
}

}  // namespace goro
