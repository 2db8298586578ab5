#include "debug/checkdead.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "debug/dump.hpp"
#include "debug/fatal.hpp"
#include "debug/wait_reason.hpp"
#include "goro/detail/config.hpp"
#include "os/clock.hpp"
#include "os/thread_state.hpp"
#include "sched/idle.hpp"
#include "sched/leftover.hpp"
#include "sched/outside.hpp"
#include "sched/runtime.hpp"
#include "sched/sysmon.hpp"
#include "time/timers.hpp"

namespace goro::rt {

namespace {

// Threads the runtime made: its Ms (m0 included) and, with sysmon on,
// sysmon and the spare-M maker; under ThreadSanitizer also its background
// thread, which every instrumented process has.
// The thread that prints on SIGQUIT (debug/dump.hpp) too, once it exists.
int threads_known(const runtime* rt) {
  return rt->mcount + (rt->sysmon_tick_ns > 0 ? 2 : 0) + (GORO_TSAN ? 1 : 0) + (sigquit_thread_running() ? 1 : 0);
}

std::uint64_t switches(const runtime* rt) {
  std::uint64_t n = 0;
  // relaxed: every M is idle and the lock is held; the counts are stable.
  for (std::int32_t i = 0; i < rt->procs; i++)
    n += rt->allp[static_cast<std::size_t>(i)]->switchtick.load(std::memory_order_relaxed);
  return n;
}

// True while a deadlock is only suspected (see checkdead.hpp); arranges
// for sysmon to check again when the grace period is over.
bool deadlock_grace_pending(runtime* rt) {
  if (rt->sysmon_tick_ns <= 0) return false;
  const int threads = process_thread_count();
  if (threads >= 0 && threads <= threads_known(rt)) return false;
  const std::uint64_t sw = switches(rt);
  const std::int64_t now = now_ns();
  if (!rt->deadlock_suspected || rt->deadlock_suspected_switches != sw) {
    // First seen, or fibers ran since: a new grace period.
    rt->deadlock_suspected = true;
    rt->deadlock_suspected_switches = sw;
    rt->deadlock_grace_until.store(now + deadlock_grace_ns, std::memory_order_seq_cst);
    sysmon_wake_if_sleeping(rt);
    return true;
  }
  const std::int64_t until = rt->deadlock_grace_until.load(std::memory_order_relaxed);
  if (now < until) {
    sysmon_wake_if_sleeping(rt);  // its sleep may have started before the period did
    return true;
  }
  return false;
}

}  // namespace

void checkdead(runtime* rt) {
  // Lock held. Ms not idle are running fibers, looking for work, or inside
  // goro::blocking; any of them may still wake a parked fiber. An M asleep
  // for its locked fiber (sched/lockedm.hpp) is idle too.
  const std::int32_t running = rt->mcount - rt->nmidle - rt->nmidlelocked;
  if (running > 0) return;
  if (running < 0)
    fatalf("checkdead", "inconsistent M count: %d Ms, %d idle, %d locked idle", rt->mcount, rt->nmidle,
           rt->nmidlelocked);
  // A P on its way from sysmon to an M (the fiber that lost it may have just
  // queued itself and idled its M): sysmon checks again when it is done.
  if (rt->sysmon_taking) return;
  // Every M is idle, so every P is too: no share of the live count
  // changes while we hold the lock, and the sum is exact. Zero: the last
  // fiber has ended, and this is how the runtime ends (sched/schedule.cpp).
  if (live_fibers(rt) == 0) {
    finish_locked(rt);
    return;
  }
  if (next_timer(rt) != 0) return;  // a pending timer may still wake someone
  // A party waiting on a descriptor may be woken by the network (the timed
  // sleeper polls). Once main has returned, such fibers are leftovers.
  // The scan comes first: a waiter it finds gone was taken by a poller
  // that, by then, counts in `delivering` (poll/netpoll.hpp); that poller
  // (the timed sleeper, on the idle list) is readying it.
  const bool io_waiters = netpoll_has_waiters(rt);
  if (rt->poll.delivering.load(std::memory_order_seq_cst) > 0) return;
  if (io_waiters && !rt->main_returned.load(std::memory_order_acquire)) return;
  // A thread outside the runtime holding a goro::keep_alive may still wake
  // a fiber. relaxed: see keep_alive_release, which re-checks under the lock.
  if (rt->external_refs.load(std::memory_order_relaxed) > 0) return;
  // A thread outside the runtimes that has used a channel or sync object
  // may too, until it exits (sched/outside.hpp).
  if (outside_threads() > 0) return;
  if (deadlock_grace_pending(rt)) return;
  // Every M is idle, yet fibers are alive: nothing can ever wake them.
  // acquire: pairs with the main fiber's release store (proc.cpp); the
  // lock orders it too.
  // Unwinding needs an idle M to do it on (and an idle P): every M may be
  // asleep for a locked fiber instead (sched/lockedm.hpp); then the report.
  if (rt->main_returned.load(std::memory_order_acquire) && rt->leftovers != leftover_policy::abort &&
      rt->midle != nullptr && rt->pidle != nullptr && leftovers_cancellable(rt)) {
    // Fibers left blocked when main returned: unwind them (sched/leftover.hpp).
    if (rt->leftovers == leftover_policy::report_then_unwind) {
      const std::string list = fiber_report(rt);
      std::fprintf(stderr, "goro: fibers left blocked when main returned:\n%s", list.c_str());
      std::fflush(stderr);
    }
    start_unwind_locked(rt);
    return;
  }
  std::string report = "all fibers are asleep - deadlock!\n" + fiber_report(rt);
  if (rt->deadlock_throws) {
    // run() throws deadlock_error once every M has left (the fibers stay
    // blocked; see free_all_gs).
    rt->deadlock_report = std::move(report);
    rt->deadlocked = true;
    finish_locked(rt);
    return;
  }
  die(("goro: fatal: " + report).c_str());  // flushes stdio first (debug/fatal.hpp)
}

}  // namespace goro::rt
