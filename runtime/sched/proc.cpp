// Runtime start and end, and the life of an M (Go's newm / mstart).
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sched/proc.hpp"

#include "debug/fatal.hpp"
#include "debug/dump.hpp"
#include "debug/overflow.hpp"
#include "goro/runtime.hpp"
#include "os/clock.hpp"
#include "os/membarrier.hpp"
#include "sched/caller.hpp"
#include "sched/g.hpp"
#include "sched/idle.hpp"
#include "sched/knobs.hpp"
#include "sched/m.hpp"
#include "sched/outside.hpp"
#include "sched/p.hpp"
#include "sched/runtime.hpp"
#include "sched/schedule.hpp"
#include "sched/spawn.hpp"
#include "sched/sysmon.hpp"
#include "time/timers.hpp"
#include "trace/trace.hpp"

namespace goro::rt {

namespace {

constexpr std::size_t default_stack_size = 256 * 1024;
constexpr std::int32_t max_threads = 10000;  // Go's default SetMaxThreads

std::int64_t sysmon_tick_ns(const options& opts) {
  std::int64_t us = opts.sysmon_tick.count();
  if (us == 0) {
    us = 20;
    if (const char* env = std::getenv("GORO_SYSMON_TICK_US"); env && *env) {
      char* end = nullptr;
      const long long v = std::strtoll(env, &end, 10);
      if (*end == '\0') us = v;
      else std::fprintf(stderr, "goro: ignoring invalid GORO_SYSMON_TICK_US=%s\n", env);
    }
  }
  return us < 0 ? 0 : us * 1000;  // 0: off
}

// CPU quota of the process's cgroup as a (possibly fractional) CPU count,
// or 0 when unlimited or unknown. cgroup v2 first, then v1.
double cgroup_cpu_limit() {
  {
    std::ifstream f("/sys/fs/cgroup/cpu.max");
    std::string quota;
    long long period = 0;
    if (f >> quota >> period) {
      if (quota == "max" || period <= 0) return 0;
      return std::stod(quota) / double(period);
    }
  }
  std::ifstream q("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), p("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  long long quota = -1, period = 0;
  if (q >> quota && p >> period && quota > 0 && period > 0) return double(quota) / double(period);
  return 0;
}

int usable_cpus() {
  int n = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
  if (n <= 0) n = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  if (n <= 0) n = 1;
  double limit = cgroup_cpu_limit();
  if (limit > 0) n = std::min(n, std::max(1, static_cast<int>(std::ceil(limit))));
  return n;
}

void mstart(M* m) {
  minit(m);
  P* p = m->nextp;
  m->nextp = nullptr;
  if (p) acquirep(m, p);  // none: a spare M (spare.hpp), which goes idle at once
  schedule(m);
  mexit(m);
}

}  // namespace

void newm(runtime* rt, P* p, bool spinning) {
  M* m;
  // Threads of retired Ms (sched/lockedm.hpp) have exited or are about to:
  // join them now, so a program whose locked fibers keep ending does not
  // pile up unjoined threads (their stacks) until run returns.
  std::vector<std::thread> reap;
  {
    // Under the lock, so that the end of the runtime (done, then joining
    // every M) cannot miss a thread created concurrently: it also waits for
    // mcreating to drop to zero.
    std::lock_guard<futex_lock> l(rt->lock);
    if (rt->done) return;
    if (rt->mcount >= max_threads)
      fatalf("newm", "program exceeds the %d-thread limit (too many fibers inside goro::blocking "
             "or running without yielding at once)", max_threads);
    // Without a P: a spare (spare.hpp), counted in spares_coming until it
    // reaches the idle list.
    m = allocm(rt, p == nullptr ? mstatus::spare : spinning ? mstatus::spinning : mstatus::running);
    m->nextp = p;
    rt->mcreating++;
    if (rt->nretired > 0) {
      for (auto& old : rt->allm) {
        if (old->status.load(std::memory_order_relaxed) == mstatus::retired && old->thread.joinable()) {
          reap.push_back(std::move(old->thread));
          rt->nretired--;
        }
      }
    }
  }
  for (auto& t : reap) t.join();
  // Not under the lock: creating a thread can take long (under TSan the
  // parent waits until the child has started, tens of milliseconds when
  // every core is busy), and the scheduler needs the lock meanwhile. The
  // new M counts in mcount, so checkdead sees it as possibly running.
  std::thread t;
  try {
    t = std::thread(mstart, m);
  } catch (const std::system_error& e) {
    fatalf("newm", "cannot create an OS thread: %s", e.what());
  }
  std::lock_guard<futex_lock> l(rt->lock);
  m->thread = std::move(t);
  rt->mcreating--;
}

}  // namespace goro::rt

namespace goro {

int default_procs() {
  if (const char* env = std::getenv("GORO_MAXPROCS"); env && *env) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(env, &end, 10);
    if (errno == 0 && *end == '\0' && v > 0 && v <= 1 << 16) return static_cast<int>(v);
    std::fprintf(stderr, "goro: ignoring invalid GORO_MAXPROCS=%s\n", env);
  }
  return rt::usable_cpus();
}

namespace detail {

void run_main(const options& opts, void (*fn)(void*), void* arg, std::source_location where) {
  using namespace rt;
  if (classify().kind != caller_kind::thread) throw std::logic_error("goro::run: called from inside a goro runtime");
  if (opts.procs < 0) throw std::invalid_argument("goro::run: options::procs must be >= 0");
  const int procs = opts.procs > 0 ? opts.procs : default_procs();
  const knob_set knobs = resolve_knobs(opts.knobs);  // throws on a bad options::knobs

  install_overflow_handler();
  init_membarrier();
  runtime rtm(procs, opts.stack_size ? opts.stack_size : default_stack_size, knobs);
  runtime* rt = &rtm;
  rt->sysmon_tick_ns = sysmon_tick_ns(opts);
  rt->start_ns = now_ns();
  rt->schedtrace_ns = schedtrace_period_ns(rt->schedtrace_detail);
  install_sigquit_handler();
  rt->deadlock_throws = opts.throw_on_deadlock;
  rt->leftovers = opts.leftovers;
  // Listed from here until it is destroyed, so that an outside thread's exit
  // can re-run its deadlock check (sched/outside.hpp).
  struct live_listing {
    runtime* rt;
    explicit live_listing(runtime* r) : rt(r) { add_live_runtime(rt); }
    ~live_listing() { remove_live_runtime(rt); }
  } listed(rt);

  // The calling thread becomes m0.
  M* m0;
  {
    std::lock_guard<futex_lock> l(rt->lock);
    m0 = allocm(rt, mstatus::running);
  }
  minit(m0);
  {
    std::lock_guard<futex_lock> l(rt->lock);
    acquirep(m0, pidleget(rt));
  }

  // The main fiber: fn(arg), then the mark that makes fibers still blocked
  // leftovers rather than a deadlock (checkdead). fn does not throw: run's
  // body stores main's exception. `main` lives in this frame, which
  // outlives every fiber.
  struct main_call {
    void (*fn)(void*);
    void* arg;
    runtime* rt;
  } main{fn, arg, rt};
  G* g = gfget(rt, m0->p, rt->stacks.default_usable());
  g->entry = [](void* a) {
    auto* c = static_cast<main_call*>(a);
    c->fn(c->arg);
    // release: what main did is visible to the unwinding it may lead to.
    c->rt->main_returned.store(true, std::memory_order_release);
  };
  g->entry_arg = &main;
  g->created_at.store(where, std::memory_order_relaxed);
  prepare_fiber(rt, m0->p, g, g);
  runq_put(m0->p, g, true);

  sysmon_start(rt);
  trace::runtime_start(rt);  // GORO_TRACE; after anything that may throw
  schedule(m0);
  sysmon_stop(rt);  // before the Ms go: it may hand Ps to them

  // Every fiber finished (done is set, so no M can be created any more).
  // Wait for the other Ms to leave their loops.
  for (;;) {
    std::thread t;
    bool creating;
    {
      std::lock_guard<futex_lock> l(rt->lock);
      for (auto& m : rt->allm)
        if (m->thread.joinable()) {
          t = std::move(m->thread);
          break;
        }
      creating = rt->mcreating > 0;
    }
    if (t.joinable()) {
      t.join();
    } else if (creating) {
      std::this_thread::yield();  // a newm between its two critical sections
    } else {
      break;
    }
  }
  trace::runtime_end(rt);  // every M has stopped: its events are complete
  drop_all_timers(rt);  // timers nobody waits for any more (after() channels, ...)
  // Threads outside the runtime may still be inside ready() or hold a
  // keep_alive (a misuse we tolerate by waiting: they must drop it soon).
  for (;;) {
    {
      std::lock_guard<futex_lock> l(rt->lock);
      if (rt->external_refs.load(std::memory_order_relaxed) == 0 &&
          rt->external_inflight.load(std::memory_order_acquire) == 0)
        break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  mexit(m0);
  if (rt->deadlocked) throw deadlock_error(rt->deadlock_report);  // ~runtime keeps the stuck fibers' stacks
}

}  // namespace detail
}  // namespace goro
