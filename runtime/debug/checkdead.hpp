// The deadlock check (Go's checkdead): every M idle while fibers are
// alive and nothing (a timer, sysmon's hand-off, a keep_alive, a thread
// outside the runtime that has used its objects) can wake them.
//
// Threads nobody has told the runtime about: a thread that a fiber has just
// created, and that has not yet used the channel it will send on, may still
// wake a fiber. When the process has more threads than the runtime made (its
// Ms, sysmon and sysmon's spare-M maker), a deadlock is only suspected at
// first, and reported if no P has switched fibers for a grace period
// (sysmon re-checks then). Without sysmon, or with no unknown thread, it
// is reported at once, as Go does.
#pragma once

#include <cstdint>

namespace goro::rt {

struct runtime;

inline constexpr std::int64_t deadlock_grace_ns = 250'000'000;

// Sched lock held. Prints "all fibers are asleep - deadlock!" with every
// fiber's id, wait reason, time waited and creation site, and aborts; or,
// with options::throw_on_deadlock, stores the report and ends the runtime
// (run() then throws goro::deadlock_error). Once the main fiber has
// returned, the fibers left are unwound instead (options::leftovers;
// sched/leftover.hpp).
void checkdead(runtime* rt);

}  // namespace goro::rt
