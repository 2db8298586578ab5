// The runtime: Go's schedt plus allp/allm/allgs, one object per goro::run.
// Scheduler state is never process-global; every M reaches its runtime
// through m->rt, every G through g->rt. (What is process-wide is listed in
// docs/design.md.)
//
// Locking: `lock` (Go's sched.lock) guards the idle M and P lists, the
// global run queue, the M count and `done`. `gflock` guards the global free
// G list, `allglock` the list of all Gs. Lock order: lock, then gflock or
// allglock; never a P's queue lock (there is none: local queues are
// lock-free).
#pragma once

#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fiber/stack.hpp"
#include "goro/runtime.hpp"
#include "os/lock.hpp"
#include "sched/g.hpp"
#include "sched/global_queue.hpp"
#include "sched/knobs.hpp"
#include "sched/m.hpp"
#include "sched/p.hpp"
#include "poll/netpoll.hpp"

namespace goro::rt {

struct runtime {
  std::int32_t procs = 1;
  stack_pool stacks;

  // ---- under `lock` --------------------------------------------------------
  futex_lock lock;
  M* midle = nullptr;          // idle Ms
  std::int32_t nmidle = 0;
  // Ms asleep for their locked fiber, and m0 retired (sched/lockedm.hpp):
  // idle as far as checkdead is concerned.
  std::int32_t nmidlelocked = 0;
  // Retired Ms whose threads newm has not joined yet (proc.cpp).
  std::int32_t nretired = 0;
  std::int32_t mcount = 0;     // Ms created (m0 included)
  std::int32_t mcreating = 0;  // newm calls between their two critical sections
  // Spare Ms asked for or being made that have not reached the idle list
  // yet (spare.cpp, ensure_spare_m).
  std::int32_t spares_coming = 0;
  P* pidle = nullptr;          // idle Ps
  intrusive_queue<G, &G::schedlink> runq;  // the global run queue
  bool done = false;           // every fiber finished (or deadlocked): Ms exit
  bool deadlock_throws = false;  // options::throw_on_deadlock
  goro::leftover_policy leftovers = goro::leftover_policy::unwind;  // options::leftovers; set before start
  bool deadlocked = false;     // checkdead found a deadlock (throw mode)
  std::string deadlock_report;
  // A deadlock seen while the process has threads the runtime does not
  // know (debug/checkdead.cpp): the P switch count then, to tell whether
  // anything ran before the grace period ends.
  bool deadlock_suspected = false;
  std::uint64_t deadlock_suspected_switches = 0;
  std::vector<std::unique_ptr<M>> allm;
  M* timed_sleeper = nullptr;  // the idle M sleeping until the next timer
  // sysmon is taking a P and handing it on (sysmon.cpp, retake): from just
  // before the P may become `taken` until it is in an M's hands or on the
  // idle list, its old M may go idle, so checkdead must not conclude from
  // idle Ms alone.
  bool sysmon_taking = false;

  // ---- atomics (the spinning protocol, see idle.hpp) ----------------------
  std::atomic<std::int32_t> npidle{0};      // Ps on the idle list
  std::atomic<std::int32_t> nmspinning{0};  // Ms with spinning = true
  // The most Ms nmspinning has counted at once, for tests of the spinning
  // limit (the spinning_limit knob); nothing decides on it. relaxed: a
  // CAS-max after each increment (idle.cpp, note_spinners).
  std::atomic<std::int32_t> nmspinning_peak{0};
  // Gs not dead that were spawned or ended without a P (a spawn from inside
  // goro::blocking); the rest are counted in each P's `live`.
  // live_fibers sums them; 0 ends the runtime (debug/checkdead.cpp).
  std::atomic<std::int64_t> live{0};
  std::atomic<std::uint64_t> goidgen{0};
  std::atomic<std::int32_t> external_refs{0};  // live goro::keep_alive objects
  runtime* next_live = nullptr;  // the list of live runtimes, under sched/outside.cpp's live_lock
  std::atomic<std::int32_t> external_inflight{0};  // ready() calls from outside, in progress
  // The main fiber's function has returned: fibers still blocked forever
  // are leftovers (sched/leftover.hpp), not a deadlock. Stored once, by the
  // main fiber (release); checkdead loads it (acquire) under `lock`.
  std::atomic<bool> main_returned{false};

  // ---- sysmon (sysmon.cpp, spare.cpp) --------------------------------------
  std::int64_t sysmon_tick_ns = 20'000;
  std::thread sysmon;
  std::atomic<bool> sysmon_stop{false};
  std::atomic<bool> sysmon_sleeping{false};     // in its deep sleep (every P idle)
  // When a suspected deadlock's grace period ends (0: none): sysmon's deep
  // sleep ends then, and it re-runs the check. seq_cst, with sysmon_sleeping
  // (a Dekker pair: checkdead stores this then reads sysmon_sleeping, sysmon
  // stores sysmon_sleeping then reads this).
  std::atomic<std::int64_t> deadlock_grace_until{0};
  std::atomic<std::uint32_t> sysmon_wakeup{0};  // futex word sysmon sleeps on
  // Creates the idle Ms that sysmon hands a retaken P to, so that sysmon
  // itself never waits for a thread to be created (spare.cpp).
  struct {
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;
    int want = 0;       // spare Ms to make; under mu
    bool stop = false;  // under mu
  } spare;
  // sysmon's last now_ns() reading, refreshed each round (0 without
  // sysmon): parked fibers record it, for "waiting for N ms" in the
  // deadlock report. Not a clock of its own (os/clock.hpp).
  std::atomic<std::int64_t> sysmon_clock_ns{0};
  // When the timed sleeper wakes (INT64_MAX: none). Written under `lock`,
  // read without it by timer_start to decide whether to wake it earlier.
  std::atomic<std::int64_t> sleep_until{INT64_MAX};

  // ---- the network poller (poll/netpoll.hpp) ------------------------------
  poller poll;

  // ---- immutable after start ----------------------------------------------
  // On lines of their own, read by every M and sysmon, written by nobody
  // once the runtime runs: plain fields, no atomics (see sched/knobs.hpp).
  alignas(64) knob_set knobs;  // the scheduler knobs; each P holds a copy
  std::vector<std::unique_ptr<P>> allp;
  std::vector<std::uint32_t> coprimes;  // strides for random steal order

  // ---- free Gs (Go's sched.gFree) -----------------------------------------
  alignas(64) futex_lock gflock;
  G* gfree = nullptr;
  std::int32_t ngfree = 0;
  std::atomic<bool> gfree_nonempty{false};  // hint read without gflock

  // ---- every G ever allocated ---------------------------------------------
  futex_lock allglock;
  G* allg = nullptr;

  // ---- counters for goro::stats (debug/stats.cpp), and the trace ------------
  // Last, on lines of their own, so that they shift nothing the hot paths
  // share between threads.
  // What no P counts: fibers created and readied without a P (inside
  // goro::blocking, by threads outside the runtime), and sysmon's actions.
  // relaxed: counts only.
  alignas(64) std::atomic<std::uint64_t> spawned_nop{0};
  std::atomic<std::uint64_t> wakeups_nop{0};
  std::atomic<std::uint64_t> retakes_blocking{0};  // written by sysmon only
  std::atomic<std::uint64_t> retakes_busy{0};
  std::atomic<std::uint64_t> retakes_asleep{0};
  std::atomic<std::uint64_t> preempt_requests{0};
  std::int32_t id = 0;  // goro::dump_all's "runtime N"; immutable after start
  // GORO_SCHEDTRACE (debug/dump.hpp): sysmon prints a line every period
  // (0: never), waking from its deep sleep for it. Set before start.
  std::int64_t schedtrace_ns = 0;
  bool schedtrace_detail = false;
  std::int64_t start_ns = 0;  // now_ns() when run() started
  // sysmon's execution-trace buffer and its last counters sample (trace/trace.hpp).
  void* trace_sysmon_buf = nullptr;
  std::uint64_t trace_sysmon_buf_id = 0;
  std::int64_t trace_last_counters = 0;

  runtime(std::int32_t nprocs, std::size_t stack_size, const knob_set& k);
  ~runtime();
};

// Fibers not dead: rt->live plus every P's share. Exact while no P changes
// its share: under the sched lock with every P idle (checkdead). Otherwise
// a snapshot for display, which a fiber moving between Ps as it is summed
// can skew; never below 0.
std::int64_t live_fibers(const runtime* rt) noexcept;

}  // namespace goro::rt
