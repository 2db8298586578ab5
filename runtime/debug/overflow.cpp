#include "debug/overflow.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "debug/fatal.hpp"
#include "sched/g.hpp"
#include "sched/m.hpp"

namespace goro::rt {

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
    put_u64(goid_of(g));
    put(" (created at ");
    put(site_of(g).file_name());
    put(":");
    put_u64(site_of(g).line());
    put(" in ");
    put(site_of(g).function_name());
    put("); its stack is ");
    put_u64(g->stk.usable);
    put(" bytes (raise it with goro::spawn_options::stack_size or goro::options::stack_size)\n");
    // What the program printed to a redirected stdout, after the message
    // (a flush that faults cannot lose it then): debug/fatal.cpp says when
    // this is safe in a signal handler and what it skips.
    flush_stdio_in_signal_handler();
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
