// The type-independent half of goro::chan<T> and goro::select: the lock, the
// queues of blocked parties (wait lists of waiters, detail/wait.hpp) and the
// select engine. The typed half (the buffer and moving values) is in
// goro/chan.hpp; the runtime side in runtime/chan/.
#pragma once

#include <cstddef>
#include <cstdint>

#include "goro/detail/spinlock.hpp"
#include "goro/detail/wait.hpp"
#include "goro/errors.hpp"

namespace goro::detail {

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
  op_result (*send)(chan_core* c, void* value, waiter** wake);
  op_result (*recv)(chan_core* c, void* dest, waiter** wake);
};

struct chan_core {
  mutable spinlock lock;
  const std::size_t cap;
  std::size_t count = 0;  // buffered values
  bool closed = false;
  wait_list sendq;
  wait_list recvq;
  const chan_ops* ops;

  chan_core(std::size_t capacity, const chan_ops* o) noexcept : cap(capacity), ops(o) {}
  // The last handle is gone: parties still queued can never be woken. They
  // are unlinked and marked orphaned, so that unwinding them (when main
  // returns) never touches the freed channel.
  ~chan_core();
  chan_core(const chan_core&) = delete;
  chan_core& operator=(const chan_core&) = delete;

  // Queue `w` (which has `who` and `elem` set) on the send or receive queue
  // and block until a partner or close() wakes it. Called with the lock
  // held; returns with it released. Returns w->ok.
  bool block(waiter& w, bool is_send);

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
int select_impl(select_case* cases, waiter* waiters, std::uint32_t* scratch, std::uint32_t n,
                bool has_default);

}  // namespace goro::detail
