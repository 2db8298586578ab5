// goro::chan<T>: Go's channel, buffered (capacity > 0) or unbuffered.
//
// A chan is a handle, like a Go channel value: copies share one channel, a
// moved-from or `nullptr`-constructed handle is a nil channel. The channel
// lives as long as any handle to it; a handle may be destroyed while an
// operation called through it waits (the wait then ends only through
// another handle).
//
// Every operation may be called from a fiber (it parks the fiber when it
// has to wait) or from a thread outside any runtime, or inside
// goro::blocking (it blocks the thread). That is how thread-based code hands
// work to fibers and back. A thread that has used a channel or sync object
// counts as able to wake fibers until it exits, so fibers waiting on it are
// not reported as a deadlock; see goro::keep_alive (runtime.hpp) for a
// thread that has not used one yet.
//
// Operations on a nil channel block forever (in select: the case is never
// ready); close of a nil channel throws.
#pragma once

#include <concepts>
#include <cstddef>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "goro/detail/chan_core.hpp"
#include "goro/detail/thread_role.hpp"

namespace goro {

// What try_recv found.
enum class recv_status : unsigned char {
  ok,         // a value was received
  not_ready,  // nothing to receive right now (the channel is open)
  closed,     // the channel is closed and drained
};

template <class T>
struct try_recv_result {
  recv_status status;
  std::optional<T> value;  // set exactly when status == ok
  explicit operator bool() const noexcept { return status == recv_status::ok; }
};

namespace detail {

template <class T>
class chan_state final : public chan_core {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "goro::chan<T> needs a noexcept move constructor (values are moved while "
                "the channel's lock is held)");

 public:
  explicit chan_state(std::size_t capacity)
      : chan_core(capacity, &table),
        buf_(capacity ? std::allocator<slot>().allocate(capacity) : nullptr) {}

  chan_state(const chan_state&) = delete;
  chan_state& operator=(const chan_state&) = delete;

  ~chan_state() {
    for (std::size_t i = 0; i < count; i++) at(head_ + i)->~T();
    if (buf_) std::allocator<slot>().deallocate(buf_, cap);
  }

  // Lock held. Hands *value to the oldest parked receiver, else buffers it.
  static op_result send_locked(chan_core* c, void* value, waiter** wake) noexcept {
    auto* s = static_cast<chan_state*>(c);
    T& v = *static_cast<T*>(value);
    *wake = nullptr;
    if (s->closed) return op_result::closed;
    if (waiter* r = s->recvq.pop()) {
      // A receiver is parked: give it the value directly (no buffer trip).
      static_cast<std::optional<T>*>(r->elem)->emplace(std::move(v));
      r->ok = true;
      *wake = r;
      return op_result::done;
    }
    if (s->count < s->cap) {
      ::new (s->at(s->head_ + s->count)) T(std::move(v));
      s->count++;
      return op_result::done;
    }
    return op_result::blocked;
  }

  // Lock held. Takes from the oldest parked sender or the buffer into *dest
  // (an empty std::optional<T>).
  static op_result recv_locked(chan_core* c, void* dest, waiter** wake) noexcept {
    auto* s = static_cast<chan_state*>(c);
    auto& out = *static_cast<std::optional<T>*>(dest);
    *wake = nullptr;
    if (waiter* w = s->sendq.pop()) {
      T& v = *static_cast<T*>(w->elem);
      if (s->cap == 0) {
        out.emplace(std::move(v));
      } else {
        // A sender parks only on a full buffer: take its head and append
        // the sender's value, keeping FIFO order.
        T* h = s->at(s->head_);
        out.emplace(std::move(*h));
        h->~T();
        ::new (h) T(std::move(v));
        s->head_ = (s->head_ + 1) % s->cap;
      }
      w->ok = true;
      *wake = w;
      return op_result::done;
    }
    if (s->count > 0) {
      T* h = s->at(s->head_);
      out.emplace(std::move(*h));
      h->~T();
      s->head_ = (s->head_ + 1) % s->cap;
      s->count--;
      return op_result::done;
    }
    return s->closed ? op_result::closed : op_result::blocked;
  }

 private:
  struct slot {
    alignas(T) unsigned char bytes[sizeof(T)];
  };
  static constexpr chan_ops table{&send_locked, &recv_locked};

  T* at(std::size_t i) const noexcept { return std::launder(reinterpret_cast<T*>(buf_[i % cap].bytes)); }

  slot* const buf_;
  std::size_t head_ = 0;  // index of the oldest buffered value
};

}  // namespace detail

template <class T>
class chan {
  using state = detail::chan_state<T>;

 public:
  using value_type = T;

  // A new unbuffered channel: a send completes only when a receiver takes
  // the value.
  //
  // NOT Go's zero value. In Go, `var c chan int` (or a struct field left
  // unset) is a nil channel, on which every send and receive blocks
  // forever; here a default-constructed chan<T> (a member, a vector
  // element, `goro::chan<int> c;`) is a fresh, working, unbuffered channel
  // of its own. Code ported from Go that relies on nil channels (a select
  // case disabled by setting its channel to nil, a field assigned later)
  // must say so: `goro::chan<T> c{nullptr}` or `c = nullptr`. Two
  // default-constructed fields are two different channels, so copy the
  // handle where Go would share the channel. (Kept because a C++ object
  // that is usable as constructed is the common expectation, and a nil
  // channel used by mistake hangs silently.)
  chan() : s_(std::make_shared<state>(0)) {}
  // A new channel buffering up to `capacity` values (0: unbuffered). A
  // template so that chan(0) picks this over the nil constructor.
  template <std::integral I>
  explicit chan(I capacity) : s_(std::make_shared<state>(checked(capacity))) {}
  // A nil channel.
  chan(std::nullptr_t) noexcept {}

  chan(const chan&) = default;
  chan& operator=(const chan&) = default;
  chan(chan&&) noexcept = default;  // leaves a nil channel behind
  chan& operator=(chan&&) noexcept = default;

  // Send v: hand it straight to a blocked receiver, else buffer it, else
  // block until a receiver takes it. Throws closed_channel_error if the
  // channel is closed (before or while blocking). Like every blocking
  // operation here, throws goro::fiber_cancelled when the runtime unwinds a
  // fiber left blocked after main returned (goro/errors.hpp).
  void send(T v) {
    detail::note_thread_use();
    if (!s_) detail::block_forever(detail::wait_reason::chan_send_nil);
    if (send_now(v, "goro::chan::send: send on closed channel")) return;
    // Blocked, lock held. Through a raw pointer: *this may be destroyed while we wait; the
    // channel lives on in the handles that can still wake us (if none is
    // left, nothing can, and we are never woken).
    state* st = s_.get();
    detail::parker p;
    detail::parker_init(p);
    detail::waiter w;
    w.who = &p;
    w.elem = &v;
    if (!st->block(w, true)) throw closed_channel_error("goro::chan::send: channel closed while sending");
  }

  // Receive a value, blocking while the channel is empty and open. Returns
  // std::nullopt once the channel is closed and drained.
  std::optional<T> recv() {
    detail::note_thread_use();
    if (!s_) detail::block_forever(detail::wait_reason::chan_recv_nil);
    std::optional<T> out;
    s_->lock.lock();
    detail::waiter* wake;
    if (state::recv_locked(s_.get(), &out, &wake) != detail::op_result::blocked) {
      s_->lock.unlock();
      if (wake) detail::parker_wake(*wake->who);
      return out;
    }
    state* st = s_.get();  // see send()
    detail::parker p;
    detail::parker_init(p);
    detail::waiter w;
    w.who = &p;
    w.elem = &out;
    st->block(w, false);
    return out;  // empty when woken by close
  }

  // Send without blocking: true if v was handed to a receiver or buffered
  // (v is then moved from), false if the send would block (v untouched).
  // Throws closed_channel_error on a closed channel. False on a nil channel.
  bool try_send(T&& v) {
    detail::note_thread_use();
    if (!s_) return false;
    if (send_now(v, "goro::chan::try_send: send on closed channel")) return true;
    s_->lock.unlock();
    return false;
  }
  bool try_send(const T& v) {
    T copy(v);
    return try_send(std::move(copy));
  }

  // Receive without blocking. A closed channel still yields its buffered
  // values first; `closed` is reported only once it is drained.
  try_recv_result<T> try_recv() {
    detail::note_thread_use();
    try_recv_result<T> r{recv_status::not_ready, std::nullopt};
    if (!s_) return r;
    s_->lock.lock();
    detail::waiter* wake;
    switch (state::recv_locked(s_.get(), &r.value, &wake)) {
      case detail::op_result::done: r.status = recv_status::ok; break;
      case detail::op_result::closed: r.status = recv_status::closed; break;
      case detail::op_result::blocked: break;
    }
    s_->lock.unlock();
    if (wake) detail::parker_wake(*wake->who);
    return r;
  }

  // Close the channel: blocked receivers get std::nullopt, blocked senders
  // get closed_channel_error; buffered values can still be received.
  // Throws closed_channel_error when already closed, or on a nil channel.
  void close() {
    detail::note_thread_use();
    if (!s_) throw closed_channel_error("goro::chan::close: close of nil channel");
    s_->close();
  }

  std::size_t capacity() const noexcept { return s_ ? s_->cap : 0; }
  // Number of buffered values (a snapshot).
  std::size_t size() const noexcept {
    if (!s_) return 0;
    s_->lock.lock();
    std::size_t n = s_->count;
    s_->lock.unlock();
    return n;
  }

  // False for a nil channel.
  explicit operator bool() const noexcept { return s_ != nullptr; }
  // Handles are equal when they refer to the same channel (or both are nil).
  friend bool operator==(const chan& a, const chan& b) noexcept { return a.s_ == b.s_; }

  // `for (auto v : ch)` receives until the channel is closed and drained.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&;

    iterator() = default;
    T& operator*() noexcept { return *v_; }
    T* operator->() noexcept { return &*v_; }
    iterator& operator++() {
      v_ = c_->recv();
      if (!v_) c_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.c_ == b.c_; }

   private:
    friend class chan;
    explicit iterator(chan* c) : c_(c) { ++*this; }
    chan* c_ = nullptr;
    std::optional<T> v_;
  };
  iterator begin() { return iterator(this); }
  iterator end() noexcept { return iterator(); }

  // For goro::select.
  detail::chan_core* core() const noexcept { return s_.get(); }

 private:
  // The non-blocking half of a send: true when done (lock released, any
  // partner woken); false when it would block, with the lock still held.
  // Throws closed_channel_error(closed_msg) on a closed channel.
  bool send_now(T& v, const char* closed_msg) {
    s_->lock.lock();
    detail::waiter* wake;
    switch (state::send_locked(s_.get(), &v, &wake)) {
      case detail::op_result::done:
        s_->lock.unlock();
        if (wake) detail::parker_wake(*wake->who);
        return true;
      case detail::op_result::closed:
        s_->lock.unlock();
        throw closed_channel_error(closed_msg);
      case detail::op_result::blocked:
        break;
    }
    return false;
  }

  template <class I>
  static std::size_t checked(I capacity) {
    if constexpr (std::is_signed_v<I>) {
      if (capacity < 0) throw std::invalid_argument("goro::chan: negative capacity");
    }
    return static_cast<std::size_t>(capacity);
  }

  std::shared_ptr<state> s_;
};

}  // namespace goro
