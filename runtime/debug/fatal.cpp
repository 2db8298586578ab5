// Fatal errors, and flushing stdio before the process dies.
//
// abort() does not flush stdio (glibc stopped in 2.27), so whatever a
// program printed to a redirected stdout (fully buffered) would be lost
// when goro ends the process. Before dying, goro flushes:
//
//  1. stdout and stderr, from the dying thread, each under ftrylockfile
//     retried for at most stream_wait_ns: a stream whose lock is held for
//     good by another thread (a fiber parked between flockfile and
//     funlockfile, a thread blocked writing to a pipe nobody reads) is
//     skipped rather than waited for. A stream the dying thread itself
//     holds is skipped too: glibc's FILE lock is recursive, so trylock
//     would succeed and we would flush a buffer that the interrupted stdio
//     call was in the middle of updating.
//  2. every other stream (fopen'ed logs, ...) with fflush(nullptr), which
//     takes each stream's lock unconditionally. It runs on a helper thread
//     the dying thread waits for at most all_wait_ns: a stuck lock costs
//     that second, not a hang (the helper stays blocked; the process dies).
//     If the thread cannot be created, this step is skipped.
//
// In the SIGSEGV handler (the stack overflow report, debug/overflow.cpp)
// only step 1 runs: creating a thread there is not safe. ftrylockfile and
// fflush_unlocked are not on POSIX's async-signal-safe list; we use them
// anyway because the process is about to die of the signal and, with the
// owner check of step 1, the stream is consistent when we touch it: the
// only thread that could be inside it is another one, and we hold its lock.
// The worst case left is a write(2) to a pipe that blocks; that is the
// same as any program printing to it.
#include "debug/fatal.hpp"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace goro::rt {

namespace {

constexpr long long stream_wait_ns = 100'000'000;  // per standard stream
constexpr long long all_wait_ns = 1'000'000'000;   // fflush(nullptr) on the helper

long long mono_ns() noexcept {  // clock_gettime is async-signal-safe
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void nap() noexcept {  // nanosleep is async-signal-safe
  timespec ts{0, 1'000'000};
  nanosleep(&ts, nullptr);
}

// Is the calling thread inside a stdio call on f (or between flockfile and
// funlockfile)? glibc only: its FILE lock is {int lock; int cnt; void*
// owner} with owner = the owning thread's pthread_self(), reachable through
// the public FILE::_lock. Elsewhere we cannot tell, and say yes (skip).
bool held_by_this_thread(FILE* f) noexcept {
#if defined(__GLIBC__)
  struct glibc_file_lock {
    int lock;
    int cnt;
    void* owner;
  };
  const auto* l = reinterpret_cast<const glibc_file_lock*>(f->_lock);
  if (l == nullptr) return false;  // a stream without locking (__fsetlocking)
  const void* owner = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
  return owner == reinterpret_cast<void*>(pthread_self());
#else
  (void)f;
  return true;
#endif
}

void flush_stream(FILE* f) noexcept {
  if (held_by_this_thread(f)) return;
  const long long deadline = mono_ns() + stream_wait_ns;
  for (;;) {
    if (ftrylockfile(f) == 0) {
      fflush_unlocked(f);
      funlockfile(f);
      return;
    }
    if (mono_ns() >= deadline) return;  // held for good by another thread: skip it
    nap();
  }
}

void flush_standard_streams() noexcept {
  flush_stream(stdout);
  flush_stream(stderr);
}

// Step 2: fflush(nullptr) on a helper thread, waited for a bounded time.
// The flag is on the heap and, when the helper is still stuck at the
// deadline, left to it: the process dies right after.
void flush_all_streams_bounded() noexcept {
  auto* done = new (std::nothrow) std::atomic<bool>(false);
  if (done == nullptr) return;
  pthread_t t;
  const auto body = [](void* arg) -> void* {
    std::fflush(nullptr);
    // release: nothing is published; pairs with the acquire below only so
    // that the helper has finished with stdio when we go on.
    static_cast<std::atomic<bool>*>(arg)->store(true, std::memory_order_release);
    return nullptr;
  };
  if (pthread_create(&t, nullptr, body, done) != 0) {
    delete done;
    return;
  }
  const long long deadline = mono_ns() + all_wait_ns;
  while (!done->load(std::memory_order_acquire)) {
    if (mono_ns() >= deadline) {
      pthread_detach(t);
      return;
    }
    nap();
  }
  pthread_join(t, nullptr);
  delete done;
}

void write_all(const char* s, std::size_t n) noexcept {
  while (n > 0) {
    const ssize_t w = write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

void die(const char* text) noexcept {
  flush_standard_streams();
  flush_all_streams_bounded();
  write_all(text, std::strlen(text));
  // The death abort() gives, without abort() itself: ThreadSanitizer's
  // abort() flushes every stream first, unbounded (the hang step 2 avoids).
  // abort() after it covers a SIGABRT handler that returns.
  raise(SIGABRT);
  std::abort();
}

void flush_stdio_in_signal_handler() noexcept { flush_standard_streams(); }

void fatal(const char* where, const char* what) noexcept {
  char buf[1024];
  std::snprintf(buf, sizeof buf, "goro: fatal: %s: %s\n", where, what);
  die(buf);
}

void fatalf(const char* where, const char* fmt, ...) noexcept {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fatal(where, buf);
}

}  // namespace goro::rt
