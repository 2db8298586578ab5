// P: a processor, the right to run fibers. Exactly `procs` of them exist for
// the runtime's lifetime. An M must hold a P to run fibers.
//
// States, and who owns the P in each:
//
//   idle     on the runtime's idle list, under the sched lock; no M.
//   running  held by p->m, which runs a fiber or the scheduling loop; the
//            owner's fields below are that M's.
//   syscall  held by p->m, whose fiber is inside goro::blocking. sysmon may
//            take it (sched/retake.hpp) once the call has lasted a tick, or
//            at once when the fiber's time slice is over while others wait.
//   taken    sysmon took it from its M (retake) and is handing it to another
//            M or to the idle list (handoffp); no M. The old M finds out at
//            its next runtime call.
//
//   idle -> running (acquirep); running -> idle (pidleput after releasep);
//   running <-> syscall (enter_blocking / exit_blocking); running | syscall
//   -> taken (sysmon); taken -> running (acquirep by the M handoffp starts)
//   | idle (handoffp).
//
// caspstatus checks each transition (the `from` state, and that the pair is
// one of the above) and dies with the caller's name otherwise.
//
// Fields are the holding M's (p->m), except: runq and conts (lock-free,
// thieves consume), the timer heap (its own lock), link while idle (sched
// lock), the retake words (own, owner, switchtick, syscalltick, preempt),
// which sysmon reads, and knobs, which nobody writes after start.
#pragma once

#include <atomic>
#include <cstdint>

#include "sched/fairness.hpp"
#include "sched/knobs.hpp"
#include "sched/run_queue.hpp"
#include "sched/work_deque.hpp"
#include "time/timer_heap.hpp"

#ifndef GORO_RUNQ_SIZE
#define GORO_RUNQ_SIZE 256  // Go's; the CMake option GORO_RUNQ_SIZE shrinks it for tests
#endif

namespace goro::rt {

struct G;
struct M;

inline constexpr std::uint32_t runq_capacity = GORO_RUNQ_SIZE;

// A P's counters for goro::stats (debug/stats.cpp; `switches` is
// P::switchtick). Written only by the
// M holding the P, with a plain load and store (bump: no locked
// instruction on the hot paths), except `steals_suffered`, which thieves
// add to, on a cache line of its own. Atomic only so that stats() may read
// them from any thread; relaxed: counts, nothing is published through them.
struct p_counters {
  std::atomic<std::uint64_t> started{0};
  std::atomic<std::uint64_t> spawned{0};
  std::atomic<std::uint64_t> steals{0};
  std::atomic<std::uint64_t> global_pulls{0};
  std::atomic<std::uint64_t> parks{0};
  std::atomic<std::uint64_t> wakeups{0};
  alignas(64) std::atomic<std::uint64_t> steals_suffered{0};
};

inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

enum class pstatus : std::uint8_t { idle, running, syscall, taken };
const char* to_string(pstatus s) noexcept;

struct P {
  std::int32_t id = 0;
  // Written by the holder (or, while idle or taken, under the sched lock /
  // by sysmon); atomic because sysmon reads it. relaxed: the ownership word
  // `own` orders hand-overs.
  std::atomic<pstatus> status{pstatus::idle};
  M* m = nullptr;     // the M holding it
  P* link = nullptr;  // idle list, under the sched lock

  // Ownership word for sysmon's retake (sched/retake.hpp): generation << 2
  // | state (0 owned, 1 sysmon trying to take it, 2 taken, 3 not owned).
  // acquirep starts a new generation; the owner M remembers it.
  std::atomic<std::uint64_t> own{3};
  std::atomic<M*> owner{nullptr};  // the M of the current generation (for sysmon)
  // +1 per fiber switched to (owner writes, sysmon reads): unchanged across
  // two sysmon looks = the same fiber is still running (its time slice).
  // Also goro::stats's `switches` (64 bits: it never wraps).
  std::atomic<std::uint64_t> switchtick{0};
  // +1 per blocking call entered: unchanged across two looks = the same
  // call is still in progress.
  std::atomic<std::uint32_t> syscalltick{0};
  // Set by sysmon when the running fiber has run a time slice while others
  // wait: this_fiber::preempt_point() then yields (cheaper than a retake).
  std::atomic<bool> preempt{false};

  fairness fair;  // the holder's scheduling decisions (sched/fairness.hpp)
  // A copy of runtime::knobs, next to `fair`, where the holder's hot paths
  // read them (runq_put, local_pick, spawn_commit, pick_direct).
  // Immutable after start (sched/knobs.hpp): plain fields.
  knob_set knobs;

  run_queue<G, runq_capacity> runq;
  // Fibers that handed this P to a fiber they spawned (sched/spawn.cpp):
  // resumed LIFO by the owner, stolen oldest-first by thieves.
  work_deque<G> conts;

  // Any thread; a racy hint.
  bool has_work() const { return !runq.empty() || !conts.empty(); }

  // Cache of dead Gs with default-size stacks (Go's gFree).
  G* gfree = nullptr;
  std::int32_t ngfree = 0;

  // Timers started on this P (Go's per-P timer heap). Any M may run due
  // timers of any P (time/timers.cpp).
  timer_heap timers;

  // Batch of fiber ids reserved from the runtime's counter.
  std::uint64_t goid_next = 0;
  std::uint64_t goid_end = 0;

  // Fibers spawned on this P minus fibers that ended on it: this P's share
  // of the live count (live_fibers, sched/runtime.hpp). Negative when more
  // ended here than began. Written by the holder only, as the counters are
  // (bump), so a spawn or an exit writes no line another P writes.
  std::atomic<std::int64_t> live{0};

  p_counters ctr;  // goro::stats; last, so that it moves none of the above
};

[[noreturn]] void bad_pstatus(const P* p, pstatus seen, pstatus from, pstatus to, const char* fn) noexcept;
bool pstatus_transition_ok(pstatus from, pstatus to) noexcept;

inline void caspstatus(P* p, pstatus from, pstatus to, const char* fn) noexcept {
  const pstatus s = p->status.load(std::memory_order_relaxed);
  if (__builtin_expect(s != from || !pstatus_transition_ok(from, to), 0)) bad_pstatus(p, s, from, to, fn);
  p->status.store(to, std::memory_order_relaxed);
}

// m takes p (idle, or taken and handed to m): a new ownership generation
// for the retake protocol. m must hold no P.
void acquirep(M* m, P* p);
// m lets go of its P (still running; the caller puts it on the idle list).
P* releasep(M* m);

}  // namespace goro::rt
