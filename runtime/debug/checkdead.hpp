// The deadlock check (Go's checkdead): every M idle while fibers are
// alive and nothing (a timer, sysmon's hand-off, a keep_alive) can wake them.
#pragma once

namespace goro::rt {

struct runtime;

// Sched lock held. Prints "all fibers are asleep - deadlock!" with every
// fiber's id, wait reason, time waited and creation site, and aborts; or,
// with options::throw_on_deadlock, stores the report and ends the runtime
// (run() then throws goro::deadlock_error).
void checkdead(runtime* rt);

}  // namespace goro::rt
