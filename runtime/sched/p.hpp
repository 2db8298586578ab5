// P: a processor, the right to run fibers. Exactly `procs` of them exist for
// the runtime's lifetime. An M must hold a P to run fibers.
//
// Fields are owned by the M holding the P (p->m), except runq (lock-free,
// thieves consume) and link/status while idle (under the sched lock).
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "goro/detail/runtime_api.hpp"
#include "sched/lock.hpp"
#include "sched/run_queue.hpp"
#include "sched/work_deque.hpp"

namespace goro::rt {

struct G;
struct M;

enum class pstatus : std::uint8_t { idle, running };

struct P {
  std::int32_t id = 0;
  pstatus status = pstatus::idle;  // under the sched lock while idle; owner's otherwise
  M* m = nullptr;                  // the M holding it
  P* link = nullptr;               // idle list, under the sched lock

  // Ownership word for sysmon's retake (sched/retake.hpp): generation << 2
  // | state (0 owned, 1 sysmon trying to take it, 2 taken, 3 not owned).
  // acquirep starts a new generation; the owner M remembers it.
  std::atomic<std::uint64_t> own{3};
  std::atomic<M*> owner{nullptr};  // the M of the current generation (for sysmon)
  // +1 per fiber switched to (owner writes, sysmon reads): unchanged across
  // two sysmon looks = the same fiber is still running (its time slice).
  std::atomic<std::uint32_t> switchtick{0};
  // +1 per blocking call entered: unchanged across two looks = the same
  // call is still in progress.
  std::atomic<std::uint32_t> syscalltick{0};
  std::atomic<bool> in_syscall{false};  // the owner's fiber is inside goro::blocking
  // Set by sysmon when the running fiber has run 10 ms while others wait:
  // this_fiber::preempt_point() then yields (cheaper than a retake).
  std::atomic<bool> preempt{false};

  // Scheduler ticks: +1 per scheduling decision that does not inherit a
  // time slice; every 61st checks the global queue first.
  std::uint32_t schedtick = 0;
  // Consecutive scheduling decisions that bypassed the ring (runnext,
  // continuations, hand-offs) and when the streak was first timed. Go lets
  // these inherit a 10 ms time slice; past it, the ring's head gets a turn
  // (schedule.cpp, slice_expired).
  std::uint32_t streak = 0;
  std::int64_t streak_start = 0;
  bool streak_expired = false;  // the next pick starts the turns below
  // After an expired streak, the picks still owed (turns_owed), in this
  // order: to the Gs on the ring (FIFO), to those on the global queue when
  // it expired (one at a time), then one to the oldest continuation.
  std::uint32_t ring_turns = 0;
  std::uint32_t global_turns = 0;
  bool turns_owed = false;

  run_queue<G> runq;
  // Fibers that handed this P to a fiber they spawned (spawn.cpp): resumed
  // LIFO by the owner, stolen oldest-first by thieves.
  work_deque<G> conts;

  // Any thread; a racy hint.
  bool has_work() const { return !runq.empty() || !conts.empty(); }

  // Cache of dead Gs with default-size stacks (Go's gFree).
  G* gfree = nullptr;
  std::int32_t ngfree = 0;

  // Timers started on this P (Go's per-P timer heap): a 4-ary min-heap on
  // `when`, under `lock`. Any M may run due timers of any P (timers.cpp).
  struct timer_heap {
    mutex lock;
    std::vector<detail::timer_node*> h;
    // when of h[0], 0 when empty: read without the lock as a hint.
    std::atomic<std::int64_t> earliest{0};
  } timers;

  // Batch of fiber ids reserved from the runtime's counter.
  std::uint64_t goid_next = 0;
  std::uint64_t goid_end = 0;
};

}  // namespace goro::rt
