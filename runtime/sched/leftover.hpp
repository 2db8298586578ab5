// Unwinding the fibers left blocked when main returns (Go ends the program
// there; goro gives their resources back). docs/design.md, "Unwinding
// fibers left when main returns".
//
// The protocol:
//  1. checkdead (sched lock held) finds every M idle and nothing able to
//     wake the live fibers (no timer, keep_alive or outside thread, grace
//     period over), and the main fiber has returned. If every live fiber is
//     parked on a parker with a cancel hook (leftovers_cancellable) and
//     options::leftovers is not abort, it calls start_unwind_locked
//     (idle.hpp): an idle M is woken, with an idle P and M::unwind set.
//     The M is then not idle, so no other check runs until it idles again.
//  2. That M, in stopm, on g0 with its P and without the sched lock, runs
//     unwind_leftovers: it lists the waiting fibers (under allglock), runs
//     every one's cancel hook (each takes its waiters off their queues
//     under their owner's lock and repairs the owner's counts), marks each
//     cancelled parker, and only then readies them all. So no unwinding
//     fiber can find a waiter of another cancelled fiber on a queue, nor
//     see a count that still includes one.
//  3. Each resumes in parker_block, which throws goro::fiber_cancelled; its
//     destructors run (releasing locks it holds, which wakes nobody: every
//     waiter was withdrawn), and fiber_main ends it quietly.
//  4. A fiber that catches the exception and blocks again is found by the
//     next check (when every M is idle again) and cancelled again.
//
// Touching parked fibers' parkers is safe because nothing runs: the same
// conclusion that makes the deadlock report safe to print. (A thread that
// never used the runtime's objects and wakes a fiber after the grace period
// would break it for the report as well; keep_alive is the answer there.)
#pragma once

namespace goro::rt {

struct runtime;

// Sched lock held, every M idle. True when every live fiber is parked with
// a cancel hook (so unwinding can end them all); false sends checkdead to
// the deadlock report (a fiber that cannot be cancelled: a timed wait, a
// blocking site without a hook).
bool leftovers_cancellable(runtime* rt);

// Step 2 above. On g0 of an M that holds a P, without the sched lock.
void unwind_leftovers(runtime* rt);

}  // namespace goro::rt
