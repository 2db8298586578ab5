// Waiting, for the public templates and the sync primitives: why a party
// waits, the parker (one blocked party, fiber or thread) and the wait list
// (an intrusive FIFO of waiters, one per queue a party waits on). The
// runtime side is runtime/wait/parker.cpp.
#pragma once

#include <atomic>
#include <cstdint>

#include "goro/detail/config.hpp"

namespace goro::detail {

// Why a fiber is parked; shown in deadlock reports (runtime/debug/).
enum class wait_reason : std::uint8_t {
  none,
  chan_send,
  chan_recv,
  chan_send_nil,
  chan_recv_nil,
  select,
  select_no_cases,
  wait_group,
  semaphore,
  mutex,
  rwmutex_read,
  rwmutex_write,
  cond,
  sleep,
  io,
};

struct waiter;

// Who gets to wake a party that more than one waker may race for (a select's
// cases, a timed wait's timeout and its notifier). Exactly one wins, by CAS
// from `open`; the winner's writes are ordered before the party's reads
// after it wakes (acq_rel on the winning CAS; the wake-up also orders them).
enum class claim_state : std::uint32_t {
  open,       // nobody has claimed the party yet
  woken,      // a waker won (wait_list::pop, parker_claim)
  timed_out,  // the party's own timeout won (parker_block_until)
};

// A blocked party. Channels and sync primitives queue waiters pointing at a
// parker, so the same code serves a fiber (which parks, leaving its thread
// to run other fibers) and an OS thread outside any runtime, or a fiber
// inside goro::blocking (which blocks its thread on a futex). A parker lives
// on the blocked party's stack and is valid until parker_block returns.
//
// Cancellation (unwinding the fibers left blocked when main returns;
// docs/design.md). Every untimed blocking site sets `cancel` before
// parker_block: cancel(cancel_arg), called by the runtime while no fiber
// runs, takes the party's waiters off their queues under their owner's lock
// and repairs the owner's state (counts the party contributed by waiting),
// returning true; or returns false when a waker already took the party (it
// is being woken normally). The runtime then sets `cancelled` and readies
// the fiber, and parker_block throws goro::fiber_cancelled. A fiber parked
// with no hook is never cancelled (the deadlock report lists it instead).
// Written by the blocked fiber before it parks and by the runtime while it
// is parked; the park and the ready order them (plain fields).
struct parker {
  fiber* g = nullptr;  // null: block the thread
  std::atomic<claim_state> claimed{claim_state::open};
  std::atomic<std::uint32_t> woken{0};  // threads: the futex word
  waiter* fired = nullptr;  // which of its waiters the claimer took (written by the claimer)
  bool (*cancel)(void* arg) noexcept = nullptr;
  void* cancel_arg = nullptr;
  bool cancelled = false;
};

// The dump's wait-for edge (goro::dump): the calling fiber's next park
// waits on `obj` (a mutex or a channel), which fiber `peer` holds or last
// used (0: unknown). Cleared when the park ends. A no-op outside a fiber.
void note_wait_edge(const void* obj, std::uint64_t peer) noexcept;
// The calling fiber's id, 0 outside a fiber (this_fiber::id).
std::uint64_t current_fiber_id() noexcept;

// Set p.g to the calling fiber if it may park, else leave it null.
void parker_init(parker& p) noexcept;
// Block until parker_wake(p). `unlock(arg)` is called once the party can
// no longer miss the wake-up (for a fiber: after it switched out), so a
// waker that takes the lock `unlock` releases and finds p queued may wake it.
// Throws goro::fiber_cancelled when the runtime cancelled the fiber (only
// with p.cancel set; see parker).
void parker_block(parker& p, wait_reason why, void (*unlock)(void* arg), void* arg);
// Like parker_block, but give up at `deadline` (now_ns clock). Returns
// true when a waker claimed and woke the party, false on timeout (then the
// caller takes its waiters off their queues, under their lock). Wakers of a
// timed party must win parker_claim first (waiter::must_claim).
bool parker_block_until(parker& p, std::int64_t deadline, wait_reason why, void (*unlock)(void* arg), void* arg);
// Wake a party blocked (or about to block) in parker_block. Exactly once.
void parker_wake(parker& p) noexcept;

// Win the right to wake p (open -> woken). False: another waker, or the
// party's timeout, won.
inline bool parker_claim(parker& p) noexcept {
  claim_state open = claim_state::open;
  // acq_rel: the winner's writes precede the party's reads after waking;
  // acquire on failure: a loser sees the winner's claim.
  return p.claimed.compare_exchange_strong(open, claim_state::woken, std::memory_order_acq_rel,
                                           std::memory_order_acquire);
}

// One blocked operation of a party on one queue (Go's sudog). A plain wait
// has one; a select has one per case, all pointing at one parker.
struct waiter {
  parker* who = nullptr;
  waiter* next = nullptr;  // queue links, under the queue owner's lock
  waiter* prev = nullptr;
  bool queued = false;
  // Someone else may wake the party too (the select's other cases, a timed
  // wait's timeout): a waker must win parker_claim before it may wake it.
  bool must_claim = false;
  // Channels: the value (send: T*; receive: std::optional<T>*), whether it
  // was transferred (set by the partner; false: woken by close), and the
  // select case this waiter stands for.
  void* elem = nullptr;
  bool ok = false;
  std::uint32_t case_index = 0;
  // Channels: the channel was destroyed (its last handle went) while this
  // waiter was queued; its destructor unlinked it, and nobody may touch the
  // channel through it any more. Written by the destroyer while the party
  // is parked.
  bool orphaned = false;
};

// An intrusive FIFO of waiters, doubly linked so that a party can take its
// entry out of the middle (a select's losing cases, a timed-out wait).
// Not synchronised: every operation is done under the owner's lock.
struct wait_list {
  waiter* head = nullptr;
  waiter* tail = nullptr;

  bool empty() const noexcept { return head == nullptr; }

  void push_back(waiter* w) noexcept {
    w->next = nullptr;
    w->prev = tail;
    if (tail) tail->next = w; else head = w;
    tail = w;
    w->queued = true;
  }
  void push_front(waiter* w) noexcept {
    w->prev = nullptr;
    w->next = head;
    if (head) head->prev = w; else tail = w;
    head = w;
    w->queued = true;
  }
  // Take w off the list; a no-op when it is not on it.
  void remove(waiter* w) noexcept {
    if (!w->queued) return;
    if (w->prev) w->prev->next = w->next; else head = w->next;
    if (w->next) w->next->prev = w->prev; else tail = w->prev;
    w->next = w->prev = nullptr;
    w->queued = false;
  }
  // The oldest waiter whose party may be woken now, taken off the list. A
  // must_claim waiter is claimed for the caller (its parker's `fired` then
  // names it); one whose party another waker or its timeout claimed is
  // dropped on the way (its owner cleans up after itself).
  waiter* pop() noexcept {
    while (waiter* w = head) {
      remove(w);
      if (!w->must_claim) return w;
      if (parker_claim(*w->who)) {
        w->who->fired = w;
        return w;
      }
    }
    return nullptr;
  }
};

}  // namespace goro::detail
