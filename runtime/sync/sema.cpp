// The runtime semaphore behind the sync primitives, and the condition
// variable. Both keep a FIFO of parkers under a spinlock; a wake-up is
// decided under that lock, so a waiter is woken exactly once.
#include "debug/fatal.hpp"
#include "goro/sync.hpp"

namespace goro {

namespace detail {

sema::~sema() {
  if (head_ != nullptr) rt::fatal("goro::detail::sema", "destroyed while fibers wait on it");
}

void sema::unlock_fn(void* l) noexcept { static_cast<spinlock*>(l)->unlock(); }

void sema::acquire(wait_reason why, bool lifo) {
  lock_.lock();
  if (tokens_ > 0) {
    tokens_--;
    lock_.unlock();
    return;
  }
  waiter w;
  parker_init(w.p);
  if (lifo) {
    w.next = head_;
    head_ = &w;
    if (tail_ == nullptr) tail_ = &w;
  } else {
    if (tail_) tail_->next = &w; else head_ = &w;
    tail_ = &w;
  }
  // Woken by release(), which gave us its token.
  parker_block(w.p, why, &unlock_fn, &lock_);
}

bool sema::try_acquire() noexcept {
  lock_.lock();
  const bool ok = tokens_ > 0;
  if (ok) tokens_--;
  lock_.unlock();
  return ok;
}

void sema::release(std::uint64_t n) noexcept {
  waiter* first = nullptr;
  waiter* last = nullptr;
  lock_.lock();
  for (; n > 0 && head_ != nullptr; n--) {
    waiter* w = head_;
    head_ = w->next;
    if (head_ == nullptr) tail_ = nullptr;
    w->next = nullptr;
    if (last) last->next = w; else first = w;
    last = w;
  }
  tokens_ += n;
  lock_.unlock();
  while (first) {
    waiter* next = first->next;  // before waking: the waiter's stack may go
    parker_wake(first->p);
    first = next;
  }
}

}  // namespace detail

condition_variable::~condition_variable() {
  if (head_ != nullptr) rt::fatal("goro::condition_variable", "destroyed while fibers wait on it");
}

void condition_variable::unlock_fn(void* l) noexcept { static_cast<detail::spinlock*>(l)->unlock(); }

void condition_variable::wait_impl(void (*unlock)(void*), void* user_lock) {
  waiter w;
  detail::parker_init(w.p);
  lock_.lock();
  if (tail_) tail_->next = &w; else head_ = &w;
  tail_ = &w;
  // Queued before the user's lock is released: a notifier that changed the
  // state under that lock finds us. (User unlocks never block; goro::mutex
  // at most wakes a waiter.)
  unlock(user_lock);
  detail::parker_block(w.p, detail::wait_reason::cond, &unlock_fn, &lock_);
}

void condition_variable::notify_one() noexcept {
  lock_.lock();
  waiter* w = head_;
  if (w) {
    head_ = w->next;
    if (head_ == nullptr) tail_ = nullptr;
  }
  lock_.unlock();
  if (w) detail::parker_wake(w->p);
}

void condition_variable::notify_all() noexcept {
  lock_.lock();
  waiter* w = head_;
  head_ = tail_ = nullptr;
  lock_.unlock();
  while (w) {
    waiter* next = w->next;
    detail::parker_wake(w->p);
    w = next;
  }
}

}  // namespace goro
