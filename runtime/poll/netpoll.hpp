// The network poller (Go's netpoll): one epoll instance per runtime, edge-
// triggered, every descriptor registered once for both directions. A party
// whose read or write would block parks on the descriptor's record
// (poll/poll_desc.hpp); the poller readies it when epoll reports the edge.
//
// Who polls:
//  - an M looking for work, before it steals: a non-blocking poll
//    (sched/schedule.cpp, find_runnable), unless an M is blocked in one;
//  - the timed sleeper: the one idle M that sleeps until the earliest timer
//    sleeps in epoll_wait instead of on its note while the runtime has an
//    open descriptor (sched/idle.cpp, stopm), with the timer as the timeout;
//  - sysmon, when nobody has polled for 10 ms (every P busy with fibers
//    that do not block), so a busy runtime never starves the network.
// Whoever wants the blocked poller awake (startm or finish taking it off the
// idle list, an earlier timer, the leftover unwinding) wakes its note and,
// if it is polling, writes the eventfd (netpoll_break; coalesced).
//
// The poller is created by the first registration, so a runtime that does
// no I/O never makes an epoll instance, and its Ms never poll.
#pragma once

#include <atomic>
#include <cstdint>

#include "os/lock.hpp"

namespace goro::rt {

struct runtime;
struct poll_desc;

struct poller {
  // Set once, under init_lock; read with acquire by anyone who found
  // `ready` true.
  futex_lock init_lock;
  std::atomic<bool> ready{false};
  int epfd = -1;
  int evfd = -1;  // the break: written by netpoll_break, drained by a poll
  // A break written and not yet drained: later breaks are no-ops.
  std::atomic<bool> break_pending{false};
  // Descriptors registered with this runtime. While non-zero, Ms poll
  // (idle ones in epoll_wait). Changed only when a descriptor opens or
  // closes, so that no wait touches a counter shared by every core.
  // seq_cst: see stopm.
  std::atomic<std::int32_t> records_open{0};
  // An M is blocked in epoll_wait (the timed sleeper; at most one, see
  // poll_sleep in sched/idle.cpp): others skip their non-blocking polls,
  // which would only take its events.
  std::atomic<bool> blocked{false};
  // Pollers between taking events from epoll and having readied their
  // parties. checkdead must not conclude meanwhile: the blocking poller is
  // on the idle list, and a readied fiber is in no queue until ready()
  // gets the sched lock. Incremented before the events' records are
  // locked, so a checkdead that finds a waiter gone from its record (under
  // that lock) also sees the count.
  std::atomic<std::int32_t> delivering{0};
  // now_ns of the last poll (sysmon polls when it is 10 ms old).
  std::atomic<std::int64_t> last_poll{0};
  // The open records (poll/poll_desc.hpp), orphaned when the runtime ends.
  futex_lock records_lock;
  poll_desc* records = nullptr;
  // pd_free calls that read this runtime from a record and have not yet
  // finished with it (a thread outside the runtime may close a descriptor
  // while the runtime ends). netpoll_close waits for zero after orphaning
  // the records, before the epoll instance and the runtime go away.
  // Incremented under the record's lock while its rt is set, so a count
  // not yet seen by that wait is impossible (pd_orphan_all takes the same
  // lock to clear rt first).
  std::atomic<std::int32_t> freeing{0};
};

// Create rt's epoll instance and eventfd if not yet made. Throws
// std::system_error when the kernel refuses.
void netpoll_init(runtime* rt);
// Close them (the runtime ends; every record was deregistered).
void netpoll_close(runtime* rt);
// Whether the runtime has descriptors to poll.
inline bool netpoll_wanted(const poller& pl) noexcept {
  return pl.records_open.load(std::memory_order_seq_cst) > 0;
}
// Whether any party waits on one of rt's descriptors (checkdead: the
// network may still wake it). Scans the open records; takes their locks.
bool netpoll_has_waiters(runtime* rt) noexcept;
// Poll rt's descriptors and wake the parties of every ready one. `until`:
// 0 polls without waiting; otherwise wait until that now_ns instant
// (INT64_MAX: until an event or a break). Returns how many parties it woke.
int netpoll(runtime* rt, std::int64_t until);
// Make a blocked netpoll return soon (coalesced: one write until drained).
void netpoll_break(runtime* rt) noexcept;

}  // namespace goro::rt
