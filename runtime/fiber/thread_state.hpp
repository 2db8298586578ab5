// Per-thread state that a fiber carries with it across threads.
//
// The C library and the C++ runtime keep some state in thread-locals: errno
// and the exception-handling globals (the stack of caught exceptions, the
// count of uncaught ones). These belong to the fiber, not to the thread: a
// fiber may leave one thread and resume on another, so the fiber side of
// every switch saves them before and restores them after, into the thread it
// resumed on (sched/switch.cpp).
//
// Their addresses are fixed per thread, so each M looks them up once
// (thread_slots::current) through out-of-line functions the compiler cannot
// treat as constant (glibc declares __errno_location `const`, so a caller
// may otherwise reuse another thread's address after a switch).
#pragma once

namespace goro::rt {

struct thread_state {
  int err;
  void* eh_caught;
  unsigned eh_uncaught;
};

struct thread_slots {
  int* err = nullptr;
  void** eh_caught = nullptr;       // __cxa_eh_globals::caughtExceptions
  unsigned* eh_uncaught = nullptr;  // __cxa_eh_globals::uncaughtExceptions

  static thread_slots current() noexcept;  // of the calling thread

  thread_state save() const noexcept { return {*err, *eh_caught, *eh_uncaught}; }
  void restore(const thread_state& s) const noexcept {
    *err = s.err;
    *eh_caught = s.eh_caught;
    *eh_uncaught = s.eh_uncaught;
  }
  // A fresh fiber starts with errno 0 and no exception in flight.
  void start() const noexcept { restore({0, nullptr, 0}); }
};

}  // namespace goro::rt
