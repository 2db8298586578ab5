// Crash reports: deadlock ("all fibers are asleep"), exceptions escaping a
// fiber, bad state transitions, and stack overflows (SIGSEGV on a guard).
#include <cxxabi.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <typeinfo>

#include "debug/fatal.hpp"
#include "sched/sched.hpp"

namespace goro::rt {

const char* to_string(gstatus s) noexcept {
  switch (s) {
    case gstatus::dead: return "dead";
    case gstatus::runnable: return "runnable";
    case gstatus::running: return "running";
    case gstatus::waiting: return "waiting";
    case gstatus::syscall: return "blocking call";
  }
  return "?";
}

void bad_gstatus(const G* g, gstatus seen, gstatus from, gstatus to, const char* fn) noexcept {
  fatalf(fn, "fiber %llu: bad status transition %s -> %s (status is %s)",
         static_cast<unsigned long long>(g->goid), to_string(from), to_string(to), to_string(seen));
}

void checkdead(runtime* rt) {
  // Lock held. Ms not idle are running fibers, looking for work, or inside
  // goro::blocking; any of them may still wake a parked fiber.
  const std::int32_t running = rt->mcount - rt->nmidle;
  if (running > 0) return;
  if (running < 0) fatalf("checkdead", "inconsistent M count: %d Ms, %d idle", rt->mcount, rt->nmidle);
  // A P on its way from sysmon to an M (the fiber that lost it may have just
  // queued itself and idled its M): sysmon checks again when it is done.
  if (rt->sysmon_taking) return;
  if (rt->live.load(std::memory_order_acquire) == 0) return;  // finishing
  if (next_timer(rt) != 0) return;  // a pending timer may still wake someone
  // A thread outside the runtime holding a goro::keep_alive may still wake
  // a fiber. relaxed: see keep_alive_release, which re-checks under the lock.
  if (rt->external_refs.load(std::memory_order_relaxed) > 0) return;
  // Every M is idle, yet fibers are alive: nothing can ever wake them.
  std::string report = "all fibers are asleep - deadlock!\n";
  {
    // Parked fibers recorded sysmon's clock, which lags (never leads) the
    // real one by at most a sysmon sleep: durations err on the long side.
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const std::int64_t now = std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    std::lock_guard<mutex> l(rt->allglock);
    for (G* g = rt->allg; g; g = g->allnext) {
      gstatus s = g->status.load(std::memory_order_relaxed);
      if (s == gstatus::dead) continue;
      const char* why = s == gstatus::waiting ? detail::to_string(g->waitreason) : to_string(s);
      char line[1024];
      char since[64] = "";
      if (s == gstatus::waiting && g->waitsince > 0)
        std::snprintf(since, sizeof since, ", %lld ms", static_cast<long long>((now - g->waitsince) / 1'000'000));
      std::snprintf(line, sizeof line, "\nfiber %llu [%s%s]:\n\tcreated at %s:%u in %s\n",
                    static_cast<unsigned long long>(g->goid), why, since, g->created_at.file_name(),
                    static_cast<unsigned>(g->created_at.line()), g->created_at.function_name());
      report += line;
    }
  }
  if (rt->deadlock_throws) {
    // run() throws deadlock_error once every M has left (the fibers stay
    // blocked; see free_all_gs).
    rt->deadlock_report = std::move(report);
    rt->deadlocked = true;
    finish_locked(rt);
    return;
  }
  std::fprintf(stderr, "goro: fatal: %s", report.c_str());
  std::fflush(stderr);
  std::abort();
}

void report_uncaught_exception(G* g) noexcept {
  const char* what = "";
  char* type = nullptr;
  int status = 0;
  if (const std::type_info* t = abi::__cxa_current_exception_type())
    type = abi::__cxa_demangle(t->name(), nullptr, nullptr, &status);
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr,
               "goro: fatal: uncaught exception in fiber %llu (created at %s:%u in %s)\n"
               "  exception of type %s: %s\n",
               static_cast<unsigned long long>(g->goid), g->created_at.file_name(),
               static_cast<unsigned>(g->created_at.line()), g->created_at.function_name(),
               type ? type : "(unknown)", what);
  std::fflush(stderr);
  std::abort();
}

// ---- stack overflow --------------------------------------------------------

namespace {

struct sigaction previous_segv;
std::once_flag overflow_once;

// Async-signal-safe output helpers.
void put(const char* s) {
  ssize_t r = write(STDERR_FILENO, s, std::strlen(s));
  (void)r;
}
void put_u64(unsigned long long v) {
  char buf[24];
  int i = sizeof buf;
  buf[--i] = '\0';
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  put(buf + i);
}

void on_segv(int sig, siginfo_t* info, void* uctx) {
  M* m = current_m();
  G* g = m ? m->curg : nullptr;
  if (g && g->stk.in_guard(info->si_addr)) {
    put("goro: fatal: stack overflow in fiber ");
    put_u64(g->goid);
    put(" (created at ");
    put(g->created_at.file_name());
    put(":");
    put_u64(g->created_at.line());
    put(" in ");
    put(g->created_at.function_name());
    put("); its stack is ");
    put_u64(g->stk.usable);
    put(" bytes (raise it with goro::spawn_options::stack_size or goro::options::stack_size)\n");
    // Die of this signal: with the default action restored, returning
    // re-executes the faulting access.
    signal(SIGSEGV, SIG_DFL);
    return;
  }
  // Not ours: hand over to whoever had the signal before us.
  if (previous_segv.sa_flags & SA_SIGINFO) {
    if (previous_segv.sa_sigaction) {
      previous_segv.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) {
    previous_segv.sa_handler(sig);
    return;
  }
  signal(SIGSEGV, SIG_DFL);
}

}  // namespace

void install_overflow_handler() {
  // Once per process: the handler finds the faulting fiber through the
  // faulting thread's M, so it serves every runtime.
  std::call_once(overflow_once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
  });
}

void install_altstack(M* m) {
  // The handler runs on this stack when the fiber's own is exhausted.
  std::size_t size = 64 * 1024;
  if (static_cast<std::size_t>(SIGSTKSZ) > size) size = SIGSTKSZ;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) fatal("install_altstack", "cannot map the signal stack");
  stack_t ss{};
  ss.ss_sp = p;
  ss.ss_size = size;
  ss.ss_flags = 0;
  if (sigaltstack(&ss, &m->old_altstack) != 0) fatal("install_altstack", "sigaltstack failed");
  m->altstack = p;
  m->altstack_size = size;
}

void remove_altstack(M* m) {
  if (!m->altstack) return;
  // Restore whatever the thread had (on m0, the caller's own setting).
  stack_t old = m->old_altstack;
  if (old.ss_sp == nullptr || (old.ss_flags & SS_DISABLE)) {
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    sigaltstack(&off, nullptr);
  } else {
    sigaltstack(&old, nullptr);
  }
  munmap(m->altstack, m->altstack_size);
  m->altstack = nullptr;
}

}  // namespace goro::rt
