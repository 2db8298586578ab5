// A descriptor's record in the poller (Go's pollDesc): who waits to read or
// write it, readiness that arrived while nobody waited, its deadlines, and
// whether it is closing. The net and io layers (runtime/net/) keep one per
// open descriptor; the poller finds it through epoll_event.data.
//
// Stale events are impossible: records are never freed (a retired record
// goes to a free list and is reused), so the pointer in an event always
// points at a record; and the event carries the low 16 bits of the
// record's sequence number, bumped when the record is retired, so an event
// for a descriptor that was closed (and whose record, or number, was
// reused) is dropped.
//
// Exactly one outcome per wait. A waiting party queues a waiter (must_claim)
// on the record's list for its direction, and, with a context, one on the
// context's done channel; the readiness event, close, a deadline change,
// the context and the wait's own deadline timer race for the party's
// parker (detail/wait.hpp, parker_claim), and the one that wins decides.
// A woken party re-checks the record under its lock, so a deadline that was
// extended while it waited takes effect, and one in the past fails at once.
//
// Locking: `lock` guards every field below it. Lock order: the record's
// lock, then the context's done-channel lock.
#pragma once

#include <atomic>
#include <cstdint>

#include "goro/detail/spinlock.hpp"
#include "goro/detail/wait.hpp"

namespace goro::detail {
struct chan_core;
}

namespace goro::rt {

struct runtime;

enum class io_mode : std::uint8_t { read, write };
enum class io_result : std::uint8_t {
  ready,     // readiness was reported: retry the operation
  closed,    // the descriptor is closing (or its runtime ended)
  timeout,   // the deadline (the descriptor's or the call's) passed
  canceled,  // the context is done
};

struct poll_desc {
  detail::spinlock lock;
  // Bumped when the record is retired; the event tag is its low 16 bits.
  std::uint32_t seq = 0;
  runtime* rt = nullptr;  // null once the runtime ended (closed for good)
  int fd = -1;
  bool closing = false;
  // An edge reported while nobody waited, kept for the next wait. Written
  // under `lock`; pd_prepare reads it without (relaxed: a stale true costs
  // one retried system call, a stale false cannot happen because only the
  // operation's own thread clears it).
  std::atomic<bool> rready{false};
  std::atomic<bool> wready{false};
  detail::wait_list rq;  // parties waiting to read
  detail::wait_list wq;  // ... and to write
  std::int64_t rdeadline = 0;  // now_ns instants; 0: none
  std::int64_t wdeadline = 0;
  // The runtime's list of open records (poller::records_lock).
  poll_desc* prev = nullptr;
  poll_desc* next = nullptr;
};

// Register fd (non-blocking) with rt's poller, edge-triggered for both
// directions. Throws std::system_error if epoll refuses it.
poll_desc* pd_open(runtime* rt, int fd);
// Mark closing and wake every waiter (they get io_result::closed). The
// descriptor stays registered until pd_free.
void pd_evict(poll_desc* pd) noexcept;
// Deregister and retire the record. Call before closing the descriptor,
// with no waiter left (after pd_evict, once every operation has finished).
void pd_free(poll_desc* pd) noexcept;
// Before an operation's system call: closed or timeout if the operation
// must not start; else ready, with the direction's kept edge dropped (the
// call itself will tell whether the descriptor is ready; an edge that comes
// after this is kept for the wait that may follow).
io_result pd_prepare(poll_desc* pd, io_mode mode) noexcept;
// Wait until the descriptor may be ready in `mode`, or closing, or a
// deadline (the descriptor's or `deadline`, now_ns; 0: none), or `done`
// (a context's done channel, or null) is closed. Parks a fiber; blocks a
// thread. Throws goro::fiber_cancelled when the runtime unwinds the fiber.
io_result pd_wait(poll_desc* pd, io_mode mode, std::int64_t deadline, detail::chan_core* done);
// Set the read and/or write deadline (now_ns; 0: none). Waiters re-check.
void pd_set_deadline(poll_desc* pd, bool read, bool write, std::int64_t when) noexcept;

// The poller's side: epoll reported `events` for the record tagged `data`.
// Returns how many parties it woke.
int pd_event(std::uint64_t data, std::uint32_t events) noexcept;
// The runtime ends: every record still open is closed for good (its
// operations fail; its owner still closes the descriptor).
void pd_orphan_all(runtime* rt) noexcept;

}  // namespace goro::rt
