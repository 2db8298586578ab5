// goro::blocking: run a call that may block the OS thread.
#pragma once

#include <functional>
#include <type_traits>
#include <utility>

namespace goro {

namespace detail {
// Go's entersyscall / exitsyscall. enter keeps the caller's P, marked, and
// sysmon hands it to another M if the call lasts, so other fibers keep
// running; exit takes a P back (the old one if sysmon did not take it or it
// is idle, else any idle one, else the fiber waits on the global queue).
// Must be paired on the same fiber.
void enter_blocking();
void exit_blocking();
}  // namespace detail

// Run fn() — a blocking system call, a sleep, a blocking library call —
// without holding a P, so the runtime's other fibers keep running on other
// threads meanwhile. Returns fn's result; exceptions propagate after the
// fiber has its P back. Must be called from a fiber (else std::logic_error).
template <class F>
decltype(auto) blocking(F&& fn) {
  detail::enter_blocking();
  struct leave {
    ~leave() { detail::exit_blocking(); }
  } guard;
  return std::invoke(std::forward<F>(fn));
}

}  // namespace goro
