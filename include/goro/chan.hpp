// goro::chan<T>: Go's channel, buffered (capacity > 0) or unbuffered.
//
// A chan is an object, not a handle: it is neither copyable nor movable;
// share it by reference (or through a shared_ptr) and keep it alive until
// no fiber uses it. All operations must be called from fibers.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "goro/detail/runtime_api.hpp"
#include "goro/detail/spinlock.hpp"

namespace goro {

// Thrown by send on a closed channel (also when the channel is closed while
// the sender is blocked) and by close on a closed channel.
class closed_channel_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

template <class T>
class chan {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "goro::chan<T> needs a noexcept move constructor (values are moved while "
                "the channel's lock is held)");

 public:
  // capacity 0: unbuffered; a send completes only when a receiver takes the
  // value.
  explicit chan(std::size_t capacity = 0)
      : cap_(capacity), buf_(capacity ? std::allocator<slot>().allocate(capacity) : nullptr) {}

  chan(const chan&) = delete;
  chan& operator=(const chan&) = delete;

  // Destroying a channel with fibers blocked on it is a fatal error.
  ~chan() {
    if (sendq_.head || recvq_.head) detail::fatal("goro::chan::~chan", "channel destroyed while fibers are blocked on it");
    for (std::size_t i = 0; i < count_; i++) at(head_ + i)->~T();
    if (buf_) std::allocator<slot>().deallocate(buf_, cap_);
  }

  // Send v: hands it straight to a blocked receiver, else buffers it, else
  // blocks until a receiver takes it. Throws closed_channel_error if the
  // channel is closed (before or while blocking).
  void send(T v) {
    detail::fiber* self = detail::current_fiber();
    lock_.lock();
    if (closed_) {
      lock_.unlock();
      throw closed_channel_error("goro::chan::send: send on closed channel");
    }
    if (waiter* r = recvq_.pop()) {
      // A receiver is parked: give it the value directly (no buffer trip).
      r->dst->emplace(std::move(v));
      r->ok = true;
      detail::fiber* rg = r->g;
      lock_.unlock();
      detail::ready(rg);
      return;
    }
    if (count_ < cap_) {
      ::new (at(head_ + count_)) T(std::move(v));
      count_++;
      lock_.unlock();
      return;
    }
    waiter w;
    w.g = self;
    w.src = &v;
    sendq_.push(&w);
    detail::park(detail::wait_reason::chan_send, &unlock_fn, &lock_);
    // Resumed by a receiver (ok) or by close (not ok). Whoever resumed us
    // removed w from the queue under the lock.
    if (!w.ok) throw closed_channel_error("goro::chan::send: channel closed while sending");
  }

  // Receive a value, blocking while the channel is empty and open. Returns
  // std::nullopt once the channel is closed and drained.
  std::optional<T> recv() {
    detail::fiber* self = detail::current_fiber();
    std::optional<T> out;
    lock_.lock();
    if (waiter* s = sendq_.pop()) {
      if (cap_ == 0) {
        out.emplace(std::move(*s->src));
      } else {
        // The buffer is full (else the sender had not parked): take its head
        // and append the parked sender's value, keeping FIFO order.
        T* h = at(head_);
        out.emplace(std::move(*h));
        h->~T();
        ::new (h) T(std::move(*s->src));
        head_ = (head_ + 1) % cap_;
      }
      s->ok = true;
      detail::fiber* sg = s->g;
      lock_.unlock();
      detail::ready(sg);
      return out;
    }
    if (count_ > 0) {
      T* h = at(head_);
      out.emplace(std::move(*h));
      h->~T();
      head_ = (head_ + 1) % cap_;
      count_--;
      lock_.unlock();
      return out;
    }
    if (closed_) {
      lock_.unlock();
      return out;
    }
    waiter w;
    w.g = self;
    w.dst = &out;
    recvq_.push(&w);
    detail::park(detail::wait_reason::chan_recv, &unlock_fn, &lock_);
    return out;  // empty when woken by close
  }

  // Close the channel: blocked receivers get std::nullopt, blocked senders
  // get closed_channel_error; buffered values can still be received.
  // Throws closed_channel_error when already closed.
  void close() {
    lock_.lock();
    if (closed_) {
      lock_.unlock();
      throw closed_channel_error("goro::chan::close: close of closed channel");
    }
    closed_ = true;
    waiter* all = nullptr;
    while (waiter* w = recvq_.pop()) { w->next = all; all = w; }
    while (waiter* w = sendq_.pop()) { w->next = all; all = w; }
    lock_.unlock();
    while (all) {
      // Read next before ready(): once readied, the waiter's fiber may run and
      // its waiter (on its stack) disappear.
      waiter* next = all->next;
      detail::ready(all->g);
      all = next;
    }
  }

  std::size_t capacity() const noexcept { return cap_; }
  // Number of buffered values (a snapshot).
  std::size_t size() const noexcept {
    lock_.lock();
    std::size_t n = count_;
    lock_.unlock();
    return n;
  }

 private:
  struct waiter {
    detail::fiber* g = nullptr;
    T* src = nullptr;                 // sender: the value to hand over
    std::optional<T>* dst = nullptr;  // receiver: where to put it
    bool ok = false;                  // set by the partner under the lock
    waiter* next = nullptr;
  };
  struct wait_queue {
    waiter* head = nullptr;
    waiter* tail = nullptr;
    void push(waiter* w) {
      w->next = nullptr;
      if (tail) tail->next = w; else head = w;
      tail = w;
    }
    waiter* pop() {
      waiter* w = head;
      if (w) {
        head = w->next;
        if (!head) tail = nullptr;
      }
      return w;
    }
  };
  struct slot {
    alignas(T) unsigned char bytes[sizeof(T)];
  };

  static void unlock_fn(void* l) { static_cast<detail::spinlock*>(l)->unlock(); }
  T* at(std::size_t i) const noexcept { return std::launder(reinterpret_cast<T*>(buf_[i % cap_].bytes)); }

  mutable detail::spinlock lock_;
  const std::size_t cap_;
  slot* const buf_;
  std::size_t head_ = 0;   // index of the oldest buffered value
  std::size_t count_ = 0;  // buffered values
  bool closed_ = false;
  wait_queue sendq_;
  wait_queue recvq_;
};

}  // namespace goro
