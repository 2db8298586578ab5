// goro::stats, goro::dump, dump_all, the SIGQUIT dump and the schedtrace
// line (debug/dump.hpp).
#include <semaphore.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "debug/dump.hpp"
#include "debug/wait_reason.hpp"
#include "goro/debug.hpp"
#include "os/clock.hpp"
#include "poll/poll_desc.hpp"
#include "sched/caller.hpp"
#include "sched/outside.hpp"
#include "sched/runtime.hpp"
#include "trace/trace.hpp"

namespace goro::rt {

namespace {

runtime* current_runtime(const char* fn) {
  const caller c = classify();
  if (c.kind != caller_kind::fiber && c.kind != caller_kind::blocking)
    throw std::logic_error(std::string(fn) + ": must be called from a fiber (or inside goro::blocking)");
  return c.m->rt;
}

std::size_t count_io(runtime* rt, std::size_t& open) {
  std::size_t waiters = 0;
  open = 0;
  std::lock_guard<futex_lock> l(rt->poll.records_lock);
  for (poll_desc* pd = rt->poll.records; pd; pd = pd->next) {
    open++;
    std::lock_guard<detail::spinlock> pl(pd->lock);
    for (const detail::waiter* w = pd->rq.head; w; w = w->next) waiters++;
    for (const detail::waiter* w = pd->wq.head; w; w = w->next) waiters++;
  }
  return waiters;
}

std::string wait_edge(const G* g, detail::wait_reason why) {
  const void* obj = g->waiting_on.load(std::memory_order_relaxed);
  if (obj == nullptr) return {};
  const std::uint64_t peer = g->wait_peer.load(std::memory_order_relaxed);
  char line[160];
  if (why == detail::wait_reason::mutex) {
    if (peer != 0)
      std::snprintf(line, sizeof line, "\twaiting for mutex %p, held by fiber %llu\n", obj,
                    static_cast<unsigned long long>(peer));
    else
      std::snprintf(line, sizeof line, "\twaiting for mutex %p, held by a thread outside the runtime\n", obj);
  } else {
    if (peer != 0)
      std::snprintf(line, sizeof line, "\twaiting on channel %p, queued behind fiber %llu\n", obj,
                    static_cast<unsigned long long>(peer));
    else
      std::snprintf(line, sizeof line, "\twaiting on channel %p\n", obj);
  }
  return line;
}

}  // namespace

std::string fiber_report(runtime* rt) {
  std::string report;
  // Parked fibers recorded sysmon's last reading of the clock, which lags
  // (never leads) the real one by at most a sysmon sleep: durations err on
  // the long side.
  const std::int64_t now = now_ns();
  std::lock_guard<futex_lock> l(rt->allglock);
  for (G* g = rt->allg; g; g = g->allnext) {
    const gstatus s = g->status.load(std::memory_order_relaxed);
    if (s == gstatus::dead) continue;
    const detail::wait_reason why = g->waitreason.load(std::memory_order_relaxed);
    const char* state = s == gstatus::waiting ? to_string(why) : to_string(s);
    char since[64] = "";
    const std::int64_t ws = g->waitsince.load(std::memory_order_relaxed);
    if (s == gstatus::waiting && ws > 0)
      std::snprintf(since, sizeof since, ", %lld ms", static_cast<long long>((now - ws) / 1'000'000));
    const std::source_location site = site_of(g);
    char line[1024];
    std::snprintf(line, sizeof line, "\nfiber %llu [%s%s]:\n\tcreated at %s:%u in %s\n",
                  static_cast<unsigned long long>(goid_of(g)), state, since, site.file_name(),
                  static_cast<unsigned>(site.line()), site.function_name());
    report += line;
    if (s == gstatus::waiting &&
        (why == detail::wait_reason::mutex || why == detail::wait_reason::chan_send || why == detail::wait_reason::chan_recv))
      report += wait_edge(g, why);
  }
  return report;
}

std::string schedtrace_report(runtime* rt, std::int64_t since_start_ns, bool detail) {
  int idle_procs, threads, idle_threads;
  std::size_t global;
  {
    std::lock_guard<futex_lock> l(rt->lock);
    idle_procs = rt->npidle.load(std::memory_order_relaxed);
    threads = rt->mcount;
    idle_threads = rt->nmidle;
    global = static_cast<std::size_t>(rt->runq.size());
  }
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "goro: sched %lldms: procs=%d idleprocs=%d threads=%d spinningthreads=%d idlethreads=%d "
                "runqueue=%zu [",
                static_cast<long long>(since_start_ns / 1'000'000), rt->procs, idle_procs, threads,
                rt->nmspinning.load(std::memory_order_relaxed), idle_threads, global);
  std::string out = buf;
  for (std::int32_t i = 0; i < rt->procs; i++) {
    std::snprintf(buf, sizeof buf, i ? " %u" : "%u", rt->allp[static_cast<std::size_t>(i)]->runq.size());
    out += buf;
  }
  out += "]\n";
  if (!detail) return out;
  for (std::int32_t i = 0; i < rt->procs; i++) {
    P* p = rt->allp[static_cast<std::size_t>(i)].get();
    // relaxed: counters and a status word, read for display.
    std::snprintf(buf, sizeof buf, "  P%d: status=%s runqsize=%u switches=%llu steals=%llu parks=%llu\n", p->id,
                  to_string(p->status.load(std::memory_order_relaxed)), p->runq.size(),
                  static_cast<unsigned long long>(p->switchtick.load(std::memory_order_relaxed)),
                  static_cast<unsigned long long>(p->ctr.steals.load(std::memory_order_relaxed)),
                  static_cast<unsigned long long>(p->ctr.parks.load(std::memory_order_relaxed)));
    out += buf;
  }
  {
    std::lock_guard<futex_lock> l(rt->lock);
    for (auto& m : rt->allm) {
      std::snprintf(buf, sizeof buf, "  M%lld: status=%s\n", static_cast<long long>(m->id),
                    to_string(m->status.load(std::memory_order_relaxed)));
      out += buf;
    }
  }
  out += fiber_report(rt);
  return out;
}

std::int64_t schedtrace_period_ns(bool& detail) {
  detail = false;
  const char* env = std::getenv("GORO_SCHEDTRACE");
  if (env == nullptr || *env == '\0') return 0;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(env, &end, 10);
  if (errno != 0 || *end != '\0' || v < 0 || v > 3'600'000) {
    std::fprintf(stderr, "goro: ignoring invalid GORO_SCHEDTRACE=%s (milliseconds, 0 to 3600000)\n", env);
    return 0;
  }
  const char* d = std::getenv("GORO_SCHEDTRACE_DETAIL");
  detail = d != nullptr && std::strcmp(d, "1") == 0;
  return static_cast<std::int64_t>(v) * 1'000'000;
}

// ---- SIGQUIT ----------------------------------------------------------------

namespace {

// The handler only posts the semaphore (async-signal-safe); a thread of
// its own waits on it and prints, where taking locks is allowed.
sem_t quit_sem;
std::atomic<bool> quit_thread_up{false};  // relaxed: read by checkdead as a count

std::string all_runtimes_report() {
  std::string text;
  for_each_live_runtime(
      [](runtime* rt, void* arg) {
        auto& s = *static_cast<std::string*>(arg);
        char head[96];
        std::snprintf(head, sizeof head, "goro: runtime %d (procs %d):\n", rt->id, rt->procs);
        s += head;
        s += fiber_report(rt);
      },
      &text);
  return text;
}

void on_sigquit(int) {
  const int saved = errno;
  sem_post(&quit_sem);
  errno = saved;
}

void quit_thread_main() {
  for (;;) {
    if (sem_wait(&quit_sem) != 0) continue;  // EINTR
    const std::string out = "goro: SIGQUIT\n" + all_runtimes_report();
    std::fputs(out.c_str(), stderr);
    std::fflush(stderr);
    trace::flush_on_signal();
  }
}

}  // namespace

void install_sigquit_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("GORO_SIGQUIT");
    if (env != nullptr && std::strcmp(env, "0") == 0) return;
    struct sigaction old{};
    if (sigaction(SIGQUIT, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) return;  // the program's own
    if (sem_init(&quit_sem, 0, 0) != 0) return;
    quit_thread_up.store(true, std::memory_order_relaxed);
    // Detached: it lives as long as the process, outside every runtime.
    std::thread(quit_thread_main).detach();
    struct sigaction sa{};
    sa.sa_handler = &on_sigquit;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGQUIT, &sa, nullptr);
  });
}

bool sigquit_thread_running() noexcept { return quit_thread_up.load(std::memory_order_relaxed); }

}  // namespace goro::rt

namespace goro {

using namespace goro::rt;

runtime_stats stats() {
  runtime* rt = current_runtime("goro::stats");
  runtime_stats s;
  s.procs = rt->procs;
  // relaxed throughout: counts read for display, not to decide anything.
  s.live_fibers = live_fibers(rt);
  s.total_fibers = rt->spawned_nop.load(std::memory_order_relaxed);
  s.wakeups = rt->wakeups_nop.load(std::memory_order_relaxed);
  {
    std::lock_guard<futex_lock> l(rt->lock);
    s.threads = rt->mcount;
    s.idle_threads = rt->nmidle;
    s.idle_procs = rt->npidle.load(std::memory_order_relaxed);
    s.global_queue = static_cast<std::size_t>(rt->runq.size());
  }
  s.spinning_threads = rt->nmspinning.load(std::memory_order_relaxed);
  s.retakes_blocking = rt->retakes_blocking.load(std::memory_order_relaxed);
  s.retakes_busy = rt->retakes_busy.load(std::memory_order_relaxed);
  s.retakes_asleep = rt->retakes_asleep.load(std::memory_order_relaxed);
  s.preempt_requests = rt->preempt_requests.load(std::memory_order_relaxed);
  for (auto& pp : rt->allp) {
    P* p = pp.get();
    proc_stats ps;
    ps.id = p->id;
    ps.status = to_string(p->status.load(std::memory_order_relaxed));
    ps.runq = p->runq.size() + static_cast<std::uint32_t>(p->conts.size());
    ps.switches = p->switchtick.load(std::memory_order_relaxed);
    ps.started = p->ctr.started.load(std::memory_order_relaxed);
    ps.spawned = p->ctr.spawned.load(std::memory_order_relaxed);
    ps.steals = p->ctr.steals.load(std::memory_order_relaxed);
    ps.steals_suffered = p->ctr.steals_suffered.load(std::memory_order_relaxed);
    ps.global_pulls = p->ctr.global_pulls.load(std::memory_order_relaxed);
    ps.parks = p->ctr.parks.load(std::memory_order_relaxed);
    ps.wakeups = p->ctr.wakeups.load(std::memory_order_relaxed);
    s.total_fibers += ps.spawned;
    s.parks += ps.parks;
    s.wakeups += ps.wakeups;
    {
      std::lock_guard<futex_lock> l(p->timers.lock);
      s.timers += p->timers.size();
    }
    s.p.push_back(std::move(ps));
  }
  s.io_waiters = count_io(rt, s.open_descriptors);
  return s;
}

void dump(std::ostream& out) {
  runtime* rt = current_runtime("goro::dump");
  out << fiber_report(rt);
  out.flush();
}

void dump_all(std::ostream& out) {
  out << all_runtimes_report();
  out.flush();
}

}  // namespace goro
