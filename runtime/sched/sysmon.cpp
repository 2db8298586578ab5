// sysmon's loop and retake (the design is in sysmon.hpp).
#include "sched/sysmon.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <cerrno>
#include <mutex>
#include <vector>

#include "debug/checkdead.hpp"
#include "debug/dump.hpp"
#include "debug/counters.hpp"
#include "debug/fatal.hpp"
#include "os/clock.hpp"
#include "os/futex.hpp"
#include "os/thread_state.hpp"
#include "sched/idle.hpp"
#include "sched/retake.hpp"
#include "sched/runtime.hpp"
#include "sched/spare.hpp"
#include "time/timers.hpp"
#include "trace/trace.hpp"

namespace goro::rt {

namespace {

constexpr std::int64_t max_sleep_ns = 10'000'000;
// How long sysmon sleeps at most while fibers wait behind a running one:
// 1 ms, or a tenth of the time slice when that is shorter (the time_slice
// knob), so that a fiber loses its P close to a slice after it started.
std::int64_t waiting_sleep_ns(const runtime* rt) { return std::min<std::int64_t>(1'000'000, rt->knobs.time_slice_ns / 10); }
constexpr std::int64_t netpoll_stale_ns = 10'000'000;  // Go's sysmon polls after 10 ms too

// Sleep up to ns (forever if < 0) or until woken.
void sysmon_sleep(runtime* rt, std::int64_t ns) {
  // acquire: pairs with the release in the wakers' store.
  if (rt->sysmon_wakeup.exchange(0, std::memory_order_acquire) != 0) return;
  const timespec ts = to_timespec(ns < 0 ? 0 : ns);
  const int err = futex_wait(&rt->sysmon_wakeup, 0, ns < 0 ? nullptr : &ts);
  if (err != 0 && err != EAGAIN && err != EINTR && err != ETIMEDOUT) fatal("sysmon", "futex wait failed");
  // A wake-up that arrived meanwhile stays set: the next sleep returns at
  // once (spurious, harmless) rather than missing it.
}

void sysmon_wake(runtime* rt) {
  rt->sysmon_wakeup.store(1, std::memory_order_release);
  futex_wake(&rt->sysmon_wakeup, 1);
}

struct watch {
  std::uint64_t tick = 0;
  std::int64_t since = 0;  // when the current fiber was first seen running
  bool valid = false;
  std::uint32_t stick = 0;
  std::int64_t ssince = 0;  // when its current blocking call was first seen
  // CPU time of the owner M when the 10 ms were first up (see below).
  std::int64_t cpu0 = 0;
  std::int64_t cpu_at = 0;
  bool cpu_valid = false;
  // Looks in a row, past the slice, that found the owner's thread asleep
  // in the kernel (owner_is_asleep).
  int asleep_looks = 0;
};

std::int64_t thread_cpu_ns(M* m) {
  timespec ts;
  if (m == nullptr || !m->has_cpu_clock || clock_gettime(m->cpu_clock, &ts) != 0) return -1;
  return to_ns(ts);
}

// Has m's thread been running (rather than off the CPU) since the first
// look? Needs two looks; half the CPU over the window counts.
bool owner_is_running(watch& pw, M* m, std::int64_t now) {
  const std::int64_t cpu = thread_cpu_ns(m);
  if (cpu < 0) return true;  // no per-thread clock: trust the wall clock
  if (!pw.cpu_valid) {
    pw.cpu0 = cpu;
    pw.cpu_at = now;
    pw.cpu_valid = true;
    return false;
  }
  const std::int64_t window = now - pw.cpu_at;
  if (window < 500'000) return false;  // let it accumulate half a millisecond
  if (2 * (cpu - pw.cpu0) >= window) return true;
  pw.cpu0 = cpu;  // mostly descheduled: start a new window
  pw.cpu_at = now;
  return false;
}

// Is m's thread asleep in the kernel (a blocking call nobody wrapped in
// goro::blocking: sleep, read, a contended std::mutex, a page fault)?
bool owner_is_asleep(M* m) {
  return m != nullptr && m->tid != 0 && read_kernel_thread_state(m->tid) == kernel_thread_state::sleeping;
}

// Why sysmon takes a P: its fiber is inside goro::blocking, computes, or
// sleeps in the kernel without having told the runtime.
enum class retake_reason { blocking, busy, asleep };

struct look {
  bool acted = false;    // took a P or woke an M
  bool waiting = false;  // some P has fibers queued behind the one it runs
};

// Ask p's fiber to yield (this_fiber::preempt_point).
[[gnu::cold]] void request_preempt(runtime* rt, P* p) {
  p->preempt.store(true, std::memory_order_relaxed);  // a hint, see P::preempt
  rt->preempt_requests.fetch_add(1, std::memory_order_relaxed);  // a count
  if (trace::enabled()) trace::sysmon_preempt(rt, p);
}

// One look at every P.
look retake(runtime* rt, std::vector<watch>& w, std::int64_t now) {
  // Go's forcePreemptNS: the time slice (10 ms; the time_slice knob).
  const std::int64_t preempt_ns = rt->knobs.time_slice_ns;
  look r;
  bool& acted = r.acted;
  for (std::int32_t i = 0; i < rt->procs; i++) {
    P* p = rt->allp[static_cast<std::size_t>(i)].get();
    watch& pw = w[static_cast<std::size_t>(i)];
    // acquire: pairs with acquirep's release; then owner is at least as new.
    const std::uint64_t own = p->own.load(std::memory_order_acquire);
    if ((own & 3) != own_owned) {
      pw.valid = false;
      continue;
    }
    const std::uint64_t tick = p->switchtick.load(std::memory_order_relaxed);
    const std::uint32_t stick = p->syscalltick.load(std::memory_order_relaxed);
    if (!pw.valid || tick != pw.tick) {
      pw = watch{tick, now, true, stick, now};
      continue;
    }
    if (stick != pw.stick) {
      // The same fiber, in or after another blocking call: its time slice
      // goes on (a fiber looping over short blocking calls gets its P back
      // from each one and would otherwise never give it up).
      pw.stick = stick;
      pw.ssince = now;
    }
    const std::int64_t ran = now - pw.since;
    const std::int64_t timer = p->timers.earliest.load(std::memory_order_relaxed);
    // Due timers count as work waiting for this P.
    const bool local_work = p->has_work() || (timer != 0 && timer <= now);
    const std::int32_t idle = rt->npidle.load(std::memory_order_seq_cst);
    const std::int32_t spinning = rt->nmspinning.load(std::memory_order_seq_cst);
    const bool wanted = local_work || (rt->runq.size() > 0 && idle == 0);
    r.waiting = r.waiting || wanted;
    const pstatus ps = p->status.load(std::memory_order_relaxed);
    retake_reason why = retake_reason::blocking;
    if (ps == pstatus::syscall) {
      const std::int64_t in_call = now - pw.ssince;
      // The fiber has used up its time slice while others wait: take the P
      // now, while it is inside a call.
      const bool slice_over = wanted && ran >= preempt_ns;
      if (!slice_over) {
        if (in_call < rt->sysmon_tick_ns) continue;
        // Nothing waits for this P and others can take new work: let the
        // call keep it for a while (getting it back is cheaper).
        if (!local_work && idle + spinning > 0 && in_call < preempt_ns) continue;
      }
    } else {
      if (ran < preempt_ns) {
        // Queued work nobody is coming for (a lone runnext does not wake an
        // M); with the steal knob off, nobody could take it.
        if (local_work && ran >= rt->sysmon_tick_ns && idle > 0 && spinning == 0 && rt->knobs.steal) {
          wakep(rt);
          acted = true;
        }
        if (wanted && ran >= preempt_ns / 2) {
          // Half way to taking this P: have an idle M ready to take it over,
          // so the hand-off does not wait for a thread to be created, and
          // start measuring the owner's CPU time (owner_is_running), so the
          // decision at 10 ms needs no further look.
          ensure_spare_m(rt);
          owner_is_running(pw, p->owner.load(std::memory_order_relaxed), now);
        }
        // A look before the 10 ms are up: ask the fiber to yield (it does if
        // it calls this_fiber::preempt_point()); retake at 10 ms if it has not.
        if (wanted && ran + waiting_sleep_ns(rt) >= preempt_ns && !p->preempt.load(std::memory_order_relaxed))
          request_preempt(rt, p);
        continue;
      }
      // A fiber has held its P for 10 ms without a runtime call. Take the P
      // only if someone waits for it, and only if taking it helps: its
      // thread computes (a hog), or sleeps in the kernel (a blocking call
      // nobody wrapped; the thread has no use for the P until it wakes). A
      // thread that is runnable but not on a CPU keeps its P: the machine is
      // busy, it will use the P as soon as it runs, and handing the P to
      // another thread would only add one more to wait for a CPU.
      if (!wanted) continue;
      if (!p->preempt.load(std::memory_order_relaxed)) {
        // Not asked yet (sysmon slept through the last millisecond): ask now,
        // retake a look later if it does not yield.
        request_preempt(rt, p);
        continue;
      }
      // Asleep at two looks in a row (a sysmon round apart, about 1 ms):
      // one look can catch a thread that computes in a short sleep (a page
      // fault, a contended lock inside malloc or a sanitizer).
      M* owner = p->owner.load(std::memory_order_relaxed);
      if (owner_is_running(pw, owner, now)) {
        why = retake_reason::busy;
      } else if (owner_is_asleep(owner)) {
        if (++pw.asleep_looks < 2) continue;
        why = retake_reason::asleep;
      } else {
        pw.asleep_looks = 0;
        continue;
      }
    }
    // From the moment the P may be ours until it is in an M's hands or on
    // the idle list, its old M may go idle (its fiber queued for want of a
    // P): the deadlock check must wait for us (checkdead), and we run it.
    {
      std::lock_guard<futex_lock> l(rt->lock);
      // No idle M to hand the P to, and a spare is on its way: wait for it
      // rather than create another here (handoffp would, and sysmon would
      // stop watching meanwhile).
      if (rt->nmidle == 0 && rt->spares_coming > 0) continue;
      rt->sysmon_taking = true;
    }
    const bool took = try_take_p(p, p->owner.load(std::memory_order_relaxed), own);
    if (took) {
      // The P is ours: its old M finds out at its next runtime call. Its
      // state (running or syscall) is stable now: only an owner inside the
      // runtime changes it, and it may have changed since our look, so it is
      // read here; the transition check rejects any other state.
      caspstatus(p, p->status.load(std::memory_order_relaxed), pstatus::taken, "retake");
      p->owner.store(nullptr, std::memory_order_relaxed);
      p->m = nullptr;
      pw.valid = false;
      // relaxed: counts only (debug/counters.hpp).
      switch (why) {
        case retake_reason::blocking:
          counters::retakes_blocking.fetch_add(1, std::memory_order_relaxed);
          rt->retakes_blocking.fetch_add(1, std::memory_order_relaxed);
          break;
        case retake_reason::busy:
          counters::retakes_busy.fetch_add(1, std::memory_order_relaxed);
          rt->retakes_busy.fetch_add(1, std::memory_order_relaxed);
          break;
        case retake_reason::asleep:
          counters::retakes_asleep.fetch_add(1, std::memory_order_relaxed);
          rt->retakes_asleep.fetch_add(1, std::memory_order_relaxed);
          break;
      }
      if (trace::enabled()) trace::sysmon_retake(rt, p->id, static_cast<int>(why));
      handoffp(rt, p);
      acted = true;
      // The hand-off used up the idle M, if there was one: have the next
      // one ready before another fiber runs 10 ms (a thread can take tens
      // of milliseconds to create under TSan).
      ensure_spare_m(rt);
    }
    {
      std::lock_guard<futex_lock> l(rt->lock);
      rt->sysmon_taking = false;
      if (!rt->done) checkdead(rt);
    }
  }
  return r;
}

// GORO_SCHEDTRACE: the line (cold: off the sysmon loop's hot code).
[[gnu::cold]] void schedtrace_line(runtime* rt, std::int64_t now) {
  const std::string line = schedtrace_report(rt, now - rt->start_ns, rt->schedtrace_detail);
  std::fputs(line.c_str(), stderr);
}

// ... once a period has passed since the last.
void schedtrace_if_due(runtime* rt, std::int64_t& last, std::int64_t now) {
  if (rt->schedtrace_ns <= 0 || now - last < rt->schedtrace_ns) return;
  last = now;
  schedtrace_line(rt, now);
}

void sysmon_main(runtime* rt) {
  std::vector<watch> w(static_cast<std::size_t>(rt->procs));
  std::int64_t delay = rt->sysmon_tick_ns;
  std::int64_t sleep = delay;
  int idle_rounds = 0;
  std::int64_t last_trace = rt->start_ns;
  while (!rt->sysmon_stop.load(std::memory_order_acquire)) {
    if (rt->npidle.load(std::memory_order_seq_cst) == rt->procs) {
      // Every P idle: nothing to watch. Sleep until a P goes busy. seq_cst
      // with pidleget's decrement and check: one of us sees the other.
      // Or, while a deadlock is suspected (debug/checkdead.hpp), until its
      // grace period is over, then check again; or until the next
      // schedtrace line.
      rt->sysmon_sleeping.store(true, std::memory_order_seq_cst);
      const std::int64_t grace_until = rt->deadlock_grace_until.load(std::memory_order_seq_cst);
      std::int64_t until = grace_until;  // 0: none
      if (rt->schedtrace_ns > 0) {
        const std::int64_t line_at = last_trace + rt->schedtrace_ns;
        until = until == 0 ? line_at : std::min(until, line_at);
      }
      if (rt->npidle.load(std::memory_order_seq_cst) == rt->procs &&
          !rt->sysmon_stop.load(std::memory_order_acquire))
        sysmon_sleep(rt, until == 0 ? -1 : std::max<std::int64_t>(until - now_ns(), 0));
      rt->sysmon_sleeping.store(false, std::memory_order_relaxed);
      schedtrace_if_due(rt, last_trace, now_ns());
      if (grace_until != 0 && now_ns() >= grace_until) {
        std::lock_guard<futex_lock> l(rt->lock);
        // Only this period's end: a later suspicion has set a later one.
        std::int64_t expected = grace_until;
        rt->deadlock_grace_until.compare_exchange_strong(expected, 0, std::memory_order_seq_cst);
        if (!rt->done) checkdead(rt);
      }
      rt->sysmon_clock_ns.store(now_ns(), std::memory_order_relaxed);
      delay = sleep = rt->sysmon_tick_ns;
      idle_rounds = 0;
      for (auto& x : w) x.valid = false;
      continue;
    }
    sysmon_sleep(rt, sleep);
    const std::int64_t now = now_ns();
    rt->sysmon_clock_ns.store(now, std::memory_order_relaxed);
    const look r = retake(rt, w, now);
    if (trace::enabled()) trace::sysmon_round(rt, now);
    if (r.acted) {
      idle_rounds = 0;
      delay = rt->sysmon_tick_ns;
    } else if (++idle_rounds > 50) {
      delay = std::min(delay * 2, max_sleep_ns);
    }
    // Fibers waiting behind a running one: look at least every millisecond
    // (a tenth of a shorter time slice), so a fiber that does not yield
    // loses its P close to a slice after it started (not up to 10 ms later).
    sleep = r.waiting ? std::min(delay, waiting_sleep_ns(rt)) : delay;
    if (rt->schedtrace_ns > 0) {
      schedtrace_if_due(rt, last_trace, now);
      sleep = std::min(sleep, std::max<std::int64_t>(last_trace + rt->schedtrace_ns - now, rt->sysmon_tick_ns));
    }
    // Descriptors nobody has polled for 10 ms (every M busy with fibers
    // that do not block): poll them here; the woken fibers go to the
    // global queue.
    if (netpoll_wanted(rt->poll) && !rt->poll.blocked.load(std::memory_order_relaxed) &&
        rt->poll.last_poll.load(std::memory_order_relaxed) + netpoll_stale_ns < now)
      netpoll(rt, 0);
    // Overdue timers nobody is running (their P's M is busy, no M is idle
    // and timing, nobody spins): start an M to run them.
    if (const std::int64_t t = next_timer(rt); t != 0 && t + rt->sysmon_tick_ns < now &&
        rt->npidle.load(std::memory_order_seq_cst) > 0 && rt->nmspinning.load(std::memory_order_seq_cst) == 0 &&
        rt->sleep_until.load(std::memory_order_relaxed) == INT64_MAX)
      wakep(rt);
  }
}

}  // namespace

void sysmon_wake_if_sleeping(runtime* rt) {
  if (rt->sysmon_sleeping.load(std::memory_order_seq_cst) &&
      rt->sysmon_sleeping.exchange(false, std::memory_order_seq_cst))
    sysmon_wake(rt);
}

void sysmon_start(runtime* rt) {
  if (rt->sysmon_tick_ns <= 0) return;  // disabled
  rt->sysmon_clock_ns.store(now_ns(), std::memory_order_relaxed);
  // Before sysmon starts, so that it finds them counted and asks for no more.
  spares_start(rt);
  rt->sysmon = std::thread(sysmon_main, rt);
}

void sysmon_stop(runtime* rt) {
  if (!rt->sysmon.joinable()) return;
  rt->sysmon_stop.store(true, std::memory_order_release);
  sysmon_wake(rt);
  rt->sysmon.join();
  spares_stop(rt);
}

}  // namespace goro::rt
