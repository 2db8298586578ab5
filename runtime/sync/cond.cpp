// goro::condition_variable: a FIFO of waiters under a spinlock; a
// notification is decided under that lock, so a waiter is woken exactly
// once, and a timed waiter's timeout and a notify have exactly one winner
// (the parker's claim).
#include "debug/fatal.hpp"
#include "goro/detail/thread_role.hpp"
#include "goro/sync.hpp"

namespace goro {

condition_variable::~condition_variable() {
  if (!waiters_.empty()) rt::fatal("goro::condition_variable", "destroyed while fibers wait on it");
}

namespace detail {

void relock_cancelled() noexcept {
  rt::fatal("goro::condition_variable::wait",
            "the re-lock after a cancelled wait was cancelled too: the lock's holder never releases it");
}

}  // namespace detail

// A party blocked in wait_impl, for its cancel hook.
struct condition_variable::blocked {
  condition_variable* cv;
  detail::waiter* w;
};

bool condition_variable::cancel_blocked(void* arg) noexcept {
  auto* b = static_cast<blocked*>(arg);
  b->cv->lock_.lock();
  const bool queued = b->w->queued;  // not queued: a notify took us and wakes us
  b->cv->waiters_.remove(b->w);
  b->cv->lock_.unlock();
  return queued;
}

void condition_variable::wait_impl(void (*unlock)(void*), void* user_lock) {
  goro::detail::note_thread_use();
  detail::parker p;
  detail::parker_init(p);
  detail::waiter w;
  w.who = &p;
  blocked self{this, &w};
  p.cancel = &cancel_blocked;
  p.cancel_arg = &self;
  lock_.lock();
  waiters_.push_back(&w);
  // Queued before the user's lock is released: a notifier that changed the
  // state under that lock finds us. (User unlocks never block; goro::mutex
  // at most wakes a waiter.)
  unlock(user_lock);
  detail::parker_block(p, detail::wait_reason::cond, &detail::spinlock::unlock_fn, &lock_);
}

bool condition_variable::wait_until_impl(void (*unlock)(void*), void* user_lock, std::int64_t deadline) {
  goro::detail::note_thread_use();
  detail::parker p;
  detail::parker_init(p);
  detail::waiter w;
  w.who = &p;
  w.must_claim = true;
  lock_.lock();
  waiters_.push_back(&w);
  unlock(user_lock);
  if (detail::parker_block_until(p, deadline, detail::wait_reason::cond, &detail::spinlock::unlock_fn, &lock_)) return true;
  // The timeout won: notifiers skip us; leave the queue.
  lock_.lock();
  waiters_.remove(&w);
  lock_.unlock();
  return false;
}

void condition_variable::notify_one() noexcept {
  goro::detail::note_thread_use();
  lock_.lock();
  detail::waiter* w = waiters_.pop();  // the oldest that has not timed out
  lock_.unlock();
  if (w) detail::parker_wake(*w->who);
}

void condition_variable::notify_all() noexcept {
  goro::detail::note_thread_use();
  detail::wait_list wake;
  lock_.lock();
  while (detail::waiter* w = waiters_.pop()) wake.push_back(w);
  lock_.unlock();
  while (detail::waiter* w = wake.head) {
    wake.head = w->next;  // before waking: the waiter's stack may go
    detail::parker_wake(*w->who);
  }
}

}  // namespace goro
