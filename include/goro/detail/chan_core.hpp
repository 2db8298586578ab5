// The type-independent half of goro::chan<T> and goro::select: the lock, the
// queues of blocked parties and the select engine. The typed half (the
// buffer and moving values) is in goro/chan.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "goro/detail/runtime_api.hpp"
#include "goro/detail/spinlock.hpp"

namespace goro {

// Thrown by a send on a closed channel (also when the channel is closed
// while the sender is blocked, and by a select whose chosen case is a send
// on a closed channel) and by close on a closed or nil channel.
class closed_channel_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace goro

namespace goro::detail {

// One blocked operation on one channel (Go's sudog). A plain send or
// receive has one; a select has one per case, all sharing one parker.
struct chan_waiter {
  parker* who = nullptr;
  void* elem = nullptr;         // send: T* (the value); receive: std::optional<T>* (the destination)
  chan_waiter* next = nullptr;  // queue links, under the channel's lock
  chan_waiter* prev = nullptr;
  bool queued = false;
  bool in_select = false;
  bool ok = false;              // set by the partner: value transferred (false: woken by close)
  std::uint32_t case_index = 0;
};

// FIFO of blocked parties, doubly linked so a select can take its losing
// entries out of the middle.
struct wait_queue {
  chan_waiter* first = nullptr;
  chan_waiter* last = nullptr;

  bool empty() const noexcept { return first == nullptr; }

  void push(chan_waiter* w) noexcept {
    w->next = nullptr;
    w->prev = last;
    if (last) last->next = w; else first = w;
    last = w;
    w->queued = true;
  }

  void remove(chan_waiter* w) noexcept {
    if (!w->queued) return;
    if (w->prev) w->prev->next = w->next; else first = w->next;
    if (w->next) w->next->prev = w->prev; else last = w->prev;
    w->next = w->prev = nullptr;
    w->queued = false;
  }

  // The oldest party that can still be woken. An entry of a select that
  // another channel already woke is dropped on the way (its owner removes
  // the rest when it runs).
  chan_waiter* pop() noexcept {
    while (chan_waiter* w = first) {
      remove(w);
      if (!w->in_select) return w;
      std::uint32_t open = 0;
      // acq_rel: the winner's later writes (value, ok, fired) are read by
      // the select after it wakes; losers must see the winner's claim.
      if (w->who->claimed.compare_exchange_strong(open, 1, std::memory_order_acq_rel,
                                                  std::memory_order_acquire)) {
        w->who->fired = w;
        return w;
      }
    }
    return nullptr;
  }
};

// What a typed operation did, with the channel locked.
enum class op_result : std::uint8_t {
  blocked,  // not ready: the caller would have to wait
  done,     // completed (maybe with a partner to wake)
  closed,   // the channel is closed (send: an error; receive: closed and drained)
};

struct chan_core;

// The typed operations a select needs, with the channel locked. On `done`,
// *wake is the partner to wake after unlocking, or null.
struct chan_ops {
  op_result (*send)(chan_core* c, void* value, chan_waiter** wake);
  op_result (*recv)(chan_core* c, void* dest, chan_waiter** wake);
};

struct chan_core {
  mutable spinlock lock;
  const std::size_t cap;
  std::size_t count = 0;  // buffered values
  bool closed = false;
  wait_queue sendq;
  wait_queue recvq;
  const chan_ops* ops;

  chan_core(std::size_t capacity, const chan_ops* o) noexcept : cap(capacity), ops(o) {}

  static void unlock_fn(void* c) noexcept { static_cast<chan_core*>(c)->lock.unlock(); }

  // Queue `w` (which has `who` and `elem` set) on the send or receive queue
  // and block until a partner or close() wakes it. Called with the lock
  // held; returns with it released. Returns w->ok.
  bool block(chan_waiter& w, bool is_send);

  // close(): wake everyone; the typed part has nothing to do (buffered
  // values stay receivable). Throws closed_channel_error when closed.
  void close();
};

// Block forever (an operation on a nil channel). Never returns.
[[noreturn]] void block_forever(wait_reason why);

// One case of a select, as the engine sees it.
struct select_case {
  chan_core* c = nullptr;  // null: a nil channel, never ready
  void* elem = nullptr;    // send: T*; receive: std::optional<T>*
  bool is_send = false;
};

// Run a select over `n` cases. Returns the index of the case that completed,
// or -1 when none was ready and `has_default`. `waiters` has room for n
// entries, `scratch` for 2n. A send case chosen on a closed channel throws
// closed_channel_error; a receive case chosen on a closed channel leaves its
// destination empty.
int select_impl(select_case* cases, chan_waiter* waiters, std::uint32_t* scratch, std::uint32_t n,
                bool has_default);

}  // namespace goro::detail
