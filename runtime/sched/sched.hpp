// The runtime: Go's schedt plus allp/allm/allgs, one object per goro::run.
// Nothing in goro is process-global; every M reaches its runtime through
// m->rt, every G through g->rt.
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

#include "context/stack.hpp"
#include "sched/g.hpp"
#include "sched/global_queue.hpp"
#include "sched/lock.hpp"
#include "sched/m.hpp"
#include "sched/p.hpp"

namespace goro::rt {

struct runtime {
  std::int32_t procs = 1;
  stack_pool stacks;

  // ---- under `lock` --------------------------------------------------------
  mutex lock;
  M* midle = nullptr;          // idle Ms
  std::int32_t nmidle = 0;
  std::int32_t mcount = 0;     // Ms created (m0 included)
  std::int32_t mcreating = 0;  // newm calls between their two critical sections
  // Spare Ms asked for or being made that have not reached the idle list
  // yet (sysmon.cpp, ensure_spare_m).
  std::int32_t spares_coming = 0;
  P* pidle = nullptr;          // idle Ps
  intrusive_queue<G, &G::schedlink> runq;  // the global run queue
  bool done = false;           // every fiber finished (or deadlocked): Ms exit
  bool deadlock_throws = false;  // options::throw_on_deadlock
  bool deadlocked = false;     // checkdead found a deadlock (throw mode)
  std::string deadlock_report;
  std::vector<std::unique_ptr<M>> allm;
  M* timed_sleeper = nullptr;  // the idle M sleeping until the next timer
  // sysmon is taking a P and handing it on (sysmon.cpp, retake): the P is
  // in nobody's hands, so checkdead must not conclude from idle Ms alone.
  bool sysmon_taking = false;

  // ---- atomics (the spinning protocol, see idle.cpp) ----------------------
  std::atomic<std::int32_t> npidle{0};      // Ps on the idle list
  std::atomic<std::int32_t> nmspinning{0};  // Ms with spinning = true
  std::atomic<std::int64_t> live{0};        // Gs not dead; 0 ends the runtime
  std::atomic<std::uint64_t> goidgen{0};
  std::atomic<std::int32_t> external_refs{0};  // live goro::keep_alive objects
  std::atomic<std::int32_t> external_inflight{0};  // ready() calls from outside, in progress

  // ---- sysmon (sysmon.cpp) -------------------------------------------------
  std::int64_t sysmon_tick_ns = 20'000;
  std::thread sysmon;
  std::atomic<bool> sysmon_stop{false};
  std::atomic<bool> sysmon_sleeping{false};     // in its deep sleep (every P idle)
  std::atomic<std::uint32_t> sysmon_wakeup{0};  // futex word sysmon sleeps on
  // Creates the idle M that sysmon hands a retaken P to, so that sysmon
  // itself never waits for a thread to be created (sysmon.cpp, spare_m).
  struct {
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;
    int want = 0;       // spare Ms to make; under mu
    bool stop = false;  // under mu
  } spare;
  // A clock sysmon refreshes each round (0 without sysmon): parked fibers
  // record it, for "waiting for N ms" in the deadlock report.
  std::atomic<std::int64_t> coarse_now_ns{0};
  // When the timed sleeper wakes (INT64_MAX: none). Written under `lock`,
  // read without it by timer_start to decide whether to wake it earlier.
  std::atomic<std::int64_t> sleep_until{INT64_MAX};

  // ---- immutable after start ----------------------------------------------
  std::vector<std::unique_ptr<P>> allp;
  std::vector<std::uint32_t> coprimes;  // strides for random steal order

  // ---- free Gs (Go's sched.gFree) -----------------------------------------
  mutex gflock;
  G* gfree = nullptr;
  std::int32_t ngfree = 0;
  std::atomic<bool> gfree_nonempty{false};  // hint read without gflock

  // ---- every G ever allocated ---------------------------------------------
  mutex allglock;
  G* allg = nullptr;

  explicit runtime(std::int32_t nprocs, std::size_t stack_size);
  ~runtime();
};

// ---- schedule.cpp: the scheduling loop -----------------------------------
void schedule(M* m);  // runs on g0 until the runtime is done
void runq_put(P* p, G* g, bool next);
void globrunq_put(runtime* rt, G* g);  // lock held

// ---- idle.cpp: Ps, Ms, spinning ------------------------------------------
void wakep(runtime* rt);
void startm(runtime* rt, P* p, bool spinning);
bool stopm(M* m);  // false: the runtime is done, exit the thread
void handoffp(runtime* rt, P* p);
void acquirep(M* m, P* p);
P* releasep(M* m);
void pidleput(runtime* rt, P* p);  // lock held
bool mremove(runtime* rt, M* m);   // lock held; take m off the idle list if it is there
P* pidleget(runtime* rt);          // lock held
bool pidleremove(runtime* rt, P* p);  // lock held; take a specific idle P
void reset_spinning(M* m);
void finish(runtime* rt);          // the last G died
void finish_locked(runtime* rt);   // the same, lock held

// ---- proc.cpp: Ms --------------------------------------------------------
void newm(runtime* rt, P* p, bool spinning);

// ---- spawn.cpp: Gs -------------------------------------------------------
G* gfget(runtime* rt, P* p, std::size_t stack_size);  // never null; throws bad_alloc
// Give g (entry, entry_arg, created_at set) an id and a fresh context, count
// it live and mark it runnable (the caller queues it). The stack starts
// below `top`.
void prepare_fiber(runtime* rt, P* p, G* g, void* top);
void gfput(runtime* rt, P* p, G* g);
void free_all_gs(runtime* rt);

// ---- schedule.cpp ----------------------------------------------------------
struct found {
  G* g = nullptr;
  bool inherit_time = false;  // from runnext: inherits the time slice
};
// What p's owner runs next from p's own queues (or, now and then for
// fairness, the global queue); empty if they are empty. Not p's timers.
found local_pick(runtime* rt, P* p);
bool timers_due(P* p);  // p has a timer whose time has come
// Make g, picked for m's P, the fiber running on m (before switching to it).
void start_running(M* m, G* g, bool inherit_time);
// Carry out m->action for g, which just switched out (its context saved).
void handle_action(M* m, G* g);

// ---- park.cpp --------------------------------------------------------------
void fiber_main(transfer_t t);
// The fiber g, running on m in the runtime, found its P taken by sysmon:
// get an idle P, or queue g and let m go idle, so that no more than procs
// fibers run user code. Returns on an M with a P; if it switched, that M
// left the runtime (call enter_runtime again).
void rejoin(M* m, G* g);
void switch_to_g0(M* m, G* g);
// The fiber g, in the runtime on m with m's P, switches straight to next
// (taken off a queue of that P) without going through g0; on next's stack,
// before next resumes, handle_action carries out m->action for g. Returns
// when g is resumed (on whichever M, outside the runtime).
void switch_to_fiber(M* m, G* g, G* next, bool inherit_time);

// ---- timers.cpp ----------------------------------------------------------
// Run p's due timers; true if any fired. Any M may call it for any P.
bool run_timers(runtime* rt, P* p, std::int64_t now);
// The earliest pending timer of any P, or 0.
std::int64_t next_timer(runtime* rt);
// Forget every pending timer (the runtime ends): heap = null, drop hooks.
void drop_all_timers(runtime* rt);

// ---- sysmon.cpp ----------------------------------------------------------
void sysmon_start(runtime* rt);
void sysmon_stop(runtime* rt);
void sysmon_wake_if_sleeping(runtime* rt);  // after a P left the idle list

// ---- debug ---------------------------------------------------------------
void checkdead(runtime* rt);  // lock held
[[noreturn]] void report_uncaught_exception(G* g) noexcept;
void install_overflow_handler();
void install_altstack(M* m);
void remove_altstack(M* m);

// Small per-M PRNG (xorshift64*). m->rng must be nonzero.
inline std::uint32_t fastrand(M* m) {
  std::uint64_t x = m->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  m->rng = x;
  return static_cast<std::uint32_t>((x * 0x2545F4914F6CDD1DULL) >> 32);
}

}  // namespace goro::rt
