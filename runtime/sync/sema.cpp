// The runtime semaphore behind mutex, shared_mutex and semaphore (Go's
// sema.go): a token count and a FIFO of waiters under a spinlock; a wake-up
// is decided under that lock, so a waiter is woken exactly once, and
// release() hands its token straight to the oldest waiter.
#include "debug/fatal.hpp"
#include "goro/detail/thread_role.hpp"
#include "goro/sync.hpp"

namespace goro {

namespace detail {

sema::~sema() {
  if (!waiters_.empty()) rt::fatal("goro::detail::sema", "destroyed while fibers wait on it");
}

// A party blocked in acquire, for its cancel hook.
struct sema::blocked {
  sema* s;
  waiter* w;
  void (*withdraw)(void*) noexcept;
  void* withdraw_arg;
};

bool sema::cancel_blocked(void* arg) noexcept {
  auto* b = static_cast<blocked*>(arg);
  b->s->lock_.lock();
  // Not queued: release() popped us and is handing us its token.
  const bool queued = b->w->queued;
  if (queued) {
    b->s->waiters_.remove(b->w);
    if (b->withdraw) b->withdraw(b->withdraw_arg);
  }
  b->s->lock_.unlock();
  return queued;
}

void sema::acquire(wait_reason why, bool lifo, void (*withdraw)(void*) noexcept, void* withdraw_arg) {
  goro::detail::note_thread_use();
  lock_.lock();
  if (tokens_ > 0) {
    tokens_--;
    lock_.unlock();
    return;
  }
  parker p;
  parker_init(p);
  waiter w;
  w.who = &p;
  blocked self{this, &w, withdraw, withdraw_arg};
  p.cancel = &cancel_blocked;
  p.cancel_arg = &self;
  if (lifo) waiters_.push_front(&w); else waiters_.push_back(&w);
  // Woken by release(), which gave us its token.
  parker_block(p, why, &spinlock::unlock_fn, &lock_);
}

bool sema::acquire_until(wait_reason why, std::int64_t deadline) {
  goro::detail::note_thread_use();
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
  parker p;
  parker_init(p);
  waiter w;
  w.who = &p;
  w.must_claim = true;
  waiters_.push_back(&w);
  if (parker_block_until(p, deadline, why, &spinlock::unlock_fn, &lock_)) return true;  // release() claimed us: a token
  // Timed out: release() skips us (its claim fails); leave the queue.
  lock_.lock();
  waiters_.remove(&w);
  lock_.unlock();
  return false;
}

bool sema::try_acquire() noexcept {
  goro::detail::note_thread_use();
  lock_.lock();
  const bool ok = tokens_ > 0;
  if (ok) tokens_--;
  lock_.unlock();
  return ok;
}

void sema::release(std::uint64_t n) noexcept {
  goro::detail::note_thread_use();
  wait_list wake;
  lock_.lock();
  for (; n > 0; n--) {
    waiter* w = waiters_.pop();  // skips timed-out waiters
    if (w == nullptr) break;
    wake.push_back(w);
  }
  tokens_ += n;
  lock_.unlock();
  while (waiter* w = wake.head) {
    wake.head = w->next;  // before waking: the waiter's stack may go
    parker_wake(*w->who);
  }
}

}  // namespace detail

}  // namespace goro
