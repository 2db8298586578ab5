// G: a fiber. Lives at the top of its own stack mapping (one allocation
// for control block, callable and stack), is reused through free lists and
// freed only when its runtime ends.
//
// States (Go's _G*), and who owns the G in each:
//
//   dead      on a free list or just allocated; owned by the list's owner
//             (a P, or the runtime under gflock). Stack not in use.
//   runnable  on a run queue (local ring, runnext, continuation deque or
//             global); owned by the queue: whoever takes it off owns it.
//             Context saved.
//   running   executing on an M (g->m); owned by that M. Context not valid.
//   waiting   parked on a wait list (channel, wait group, timer, ...);
//             owned by that list, under its lock: whoever takes it off must
//             ready() it. Context saved.
//   syscall   executing inside goro::blocking on its M, whose P (if it still
//             has one) sysmon may take (sched/syscall.cpp).
//
//   dead     -> runnable  newproc (prepare_fiber)
//   runnable -> running   execute (start_running)
//   running  -> runnable  yield, handoff (spawn), rejoin (sysmon took its P
//                         and no P is idle)
//   running  -> waiting   park;        waiting -> runnable   ready
//   running  -> syscall   enter_blocking
//   syscall  -> running   exit_blocking;  syscall -> runnable  exit_blocking
//                         with no P to return to
//   running  -> dead      goexit (the fiber's function returned)
//
// Every transition goes through casgstatus, which checks the `from` state
// and dies loudly with the caller's name otherwise.
#pragma once

#include <atomic>
#include <cstdint>
#include <source_location>

#include "fiber/fcontext.hpp"
#include "fiber/stack.hpp"
#include "goro/detail/wait.hpp"
#include "trace/trace.hpp"

namespace goro::rt {

struct M;
struct P;
struct runtime;
struct fiber_local_slot;

enum class gstatus : std::uint32_t { dead, runnable, running, waiting, syscall };
const char* to_string(gstatus s) noexcept;

struct alignas(64) G {
  exec_context ctx;
  // Written by the owner only; atomic so that diagnostics may read it from
  // other threads. relaxed: ownership hand-offs (queues, locks) order it.
  std::atomic<gstatus> status{gstatus::dead};
  G* schedlink = nullptr;  // global run queue, free lists; owner's
  M* m = nullptr;          // while running / syscall
  runtime* rt = nullptr;
  // Identity and wait state, written by the fiber's owner (goid and
  // created_at while dead, before the G is published; waitreason,
  // waitsince and waiting_on around a park) and read by diagnostics from
  // any thread (goro::dump, the deadlock report): atomics so that such a
  // read is never a data race; relaxed, as a diagnostic read of a fiber
  // being reused may see a mix of its old and new values, and says so by
  // nothing worse than a stale line.
  std::atomic<std::uint64_t> goid{0};
  std::atomic<detail::wait_reason> waitreason{detail::wait_reason::none};
  std::atomic<std::int64_t> waitsince{0};  // runtime::sysmon_clock_ns when it parked

  // What to run: entry(entry_arg); entry_arg points into the stack, just
  // below this G.
  void (*entry)(void*) = nullptr;
  void* entry_arg = nullptr;
  std::atomic<std::source_location> created_at{};  // see goid
  bool fresh = false;  // made ready to run by prepare_fiber, not started yet

  // Set by park(): run once the fiber has switched out (on g0, or on top of
  // the next fiber's stack: sched/switch.cpp, finish_direct).
  void (*park_unlock)(void*) = nullptr;
  void* park_arg = nullptr;

  P* syscall_oldp = nullptr;  // the P it held when it entered goro::blocking

  // lock_os_thread (sched/lockedm.hpp): the M this fiber is locked to, and
  // the nesting count. Written by the fiber itself; read by whoever takes
  // it off a run queue (ordered by the queue's hand-off).
  M* lockedm = nullptr;
  std::uint32_t lockcount = 0;

  // goro::fiber_local values, indexed by fiber_local id (sched/fiber_local.hpp).
  // The fiber's own: touched only by the fiber itself, and freed with the G.
  fiber_local_slot* locals = nullptr;
  std::uint32_t nlocals = 0;

  // The parker it is blocked on in parker_block (null otherwise): where
  // the unwinding of leftover fibers finds its cancel hook
  // (sched/leftover.cpp). Written by the fiber itself around its park.
  detail::parker* parker = nullptr;

  // The channel or mutex it is parked on, when the park says (for the
  // dump's wait-for edges); null otherwise. Relaxed, as goid. Kept off
  // the lines the switch paths use.
  std::atomic<const void*> waiting_on{nullptr};
  std::atomic<std::uint64_t> wait_peer{0};  // the fiber holding it / queued ahead, 0 unknown

  // The execution trace (trace/trace.hpp): how it became runnable, the
  // flow arrow into its next run, and the trace that has its creation
  // site. Written by whoever owns the G (its waker, spawner or thief before
  // queueing it, its M while it runs); the queue hand-off orders them.
  trace::from trace_from = trace::from::unknown;
  std::int16_t trace_stolen_from = -1;
  std::uint64_t trace_flow = 0;
  std::uint64_t trace_id = 0;

  stack stk;  // the mapping this G lives in

  // All Gs of the runtime, under runtime::allglock.
  G* allnext = nullptr;
  G* allprev = nullptr;
};

inline std::uint64_t goid_of(const G* g) noexcept { return g->goid.load(std::memory_order_relaxed); }
inline std::source_location site_of(const G* g) noexcept { return g->created_at.load(std::memory_order_relaxed); }

[[noreturn]] void bad_gstatus(const G* g, gstatus seen, gstatus from, gstatus to, const char* fn) noexcept;

inline void casgstatus(G* g, gstatus from, gstatus to, const char* fn) noexcept {
  gstatus s = g->status.load(std::memory_order_relaxed);
  if (__builtin_expect(s != from, 0)) bad_gstatus(g, s, from, to, fn);
  g->status.store(to, std::memory_order_relaxed);
}

// ---- G allocation and free lists (Go's gfget / gfput) -----------------------

// A dead G with a stack of stack_size usable bytes: from p's free list (p
// may be null: then the runtime's), else newly mapped. Never null; throws
// std::bad_alloc when no stack can be mapped.
G* gfget(runtime* rt, P* p, std::size_t stack_size);
// Give back a dead G: to p's free list (spilling half to the runtime's when
// it grows long), or the runtime's when p is null. A G with a non-default
// stack is freed at once.
void gfput(runtime* rt, P* p, G* g);
// The runtime ends: free every dead G (and keep the stacks of blocked ones
// after a deadlock in throw mode).
void free_all_gs(runtime* rt);

}  // namespace goro::rt
