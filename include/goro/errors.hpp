// The exceptions goro throws for conditions a program may want to catch.
// (Misuse that leaves state corrupt, such as unlocking an unlocked mutex,
// is a fatal error instead: "goro: fatal: where: what", then abort.)
#pragma once

#include <stdexcept>

namespace goro {

// Thrown by a send on a closed channel (also when the channel is closed
// while the sender is blocked, and by a select whose chosen case is a send
// on a closed channel) and by close on a closed or nil channel.
class closed_channel_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Thrown by run() when options::throw_on_deadlock is set and every fiber is
// blocked forever. what() is the deadlock report.
class deadlock_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace goro

namespace goro {

// Thrown by a fiber's blocking operation (a channel send or receive, select,
// mutex / shared_mutex lock, condition_variable::wait, wait_group::wait,
// semaphore::acquire, an operation on a nil channel) when the runtime
// unwinds it: the main fiber has returned and every remaining fiber is
// blocked forever (options::leftovers, docs/design.md "Unwinding fibers
// left when main returns").
//
// Deliberately not derived from std::exception, so that
// `catch (const std::exception&)` does not swallow it: let it propagate.
// The fiber's destructors run as it leaves, and a fiber that lets it escape
// ends quietly (no "uncaught exception" report). A fiber that catches it
// and blocks again is cancelled again at the next check; one that catches
// it and never ends keeps run() from returning, like any fiber that never
// ends.
//
// A fiber blocked inside a noexcept function, or inside a destructor (which
// is noexcept unless declared otherwise), or blocked again by a destructor
// that runs during this unwinding, cannot be unwound: the throw calls
// std::terminate there, as C++ requires. Code that may be left blocked
// when main returns should not block in those places (or should run with
// options::leftovers = leftover_policy::abort to see the report instead).
class fiber_cancelled {
 public:
  const char* what() const noexcept { return "goro::fiber_cancelled: fiber left blocked when main returned"; }
};

}  // namespace goro
