// The global run queue (Go's sched.runq): an intrusive FIFO of items linked
// through a member pointer. Not synchronised: every mutation happens under
// the runtime's sched lock. `size()` may be read without the lock as a hint
// (Go reads sched.runqsize racily the same way).
#pragma once

#include <atomic>
#include <cstdint>

namespace goro::rt {

template <class T, T* T::*Link>
class intrusive_queue {
 public:
  bool empty() const { return head_ == nullptr; }

  // Lock-free hint; relaxed because callers re-check under the lock.
  std::int32_t size() const { return size_.load(std::memory_order_relaxed); }

  void push_back(T* x) {
    x->*Link = nullptr;
    if (tail_) tail_->*Link = x; else head_ = x;
    tail_ = x;
    size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // lock held
  }

  void push_front(T* x) {
    x->*Link = head_;
    head_ = x;
    if (!tail_) tail_ = x;
    size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // lock held
  }

  // Append a chain first..last of n items already linked through Link.
  void push_back_batch(T* first, T* last, std::int32_t n) {
    last->*Link = nullptr;
    if (tail_) tail_->*Link = first; else head_ = first;
    tail_ = last;
    size_.store(size_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // lock held
  }

  T* pop_front() {
    T* x = head_;
    if (!x) return nullptr;
    head_ = x->*Link;
    if (!head_) tail_ = nullptr;
    x->*Link = nullptr;
    size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);  // lock held
    return x;
  }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  std::atomic<std::int32_t> size_{0};
};

}  // namespace goro::rt
