// Fibers locked to their thread (goro::this_fiber::lock_os_thread, Go's
// LockOSThread) and the Ms that belong to them.
//
// A locked fiber G and its M are bound both ways (G::lockedm, M::lockedg)
// until the lock count drops back to zero: the fiber runs only on that M,
// and the M runs nothing else. The rules:
//
//  1. The M runs G or nothing. While G runs, it never switches straight to
//     another fiber (switch_direct, fiber_main and spawn's hand-off go
//     through g0 instead). When G stops running (it parks, yields, or
//     needs a P back), the M's scheduling loop does not look for other
//     work: stoplockedm hands the M's P (if it still has one) to another M
//     (handoffp) and sleeps on the M's note.
//  2. A locked G is queued like any other G (runnext of whoever readied
//     it, a ring, the global queue), so that it waits for a P like any G.
//     Whoever takes it off a queue - the P's own M, a thief, the global
//     queue's reader - never runs it: a direct switch leaves it to g0
//     (pick_direct puts it back in runnext), and g0's schedule() hands it
//     to its M together with its own P (startlockedm: lm->nextp = P under
//     the sched lock, wake lm's note) and goes idle itself. So a locked G
//     may be stolen, but it only ever runs on its own M.
//  3. One wake-up per sleep: every stoplockedm sleeps on the note exactly
//     once, and exactly one wake-up answers it - startlockedm's (or, when a
//     locked G that lost its P found an idle P on g0, the M's own: it
//     passes itself that P the same way), or finish's at the end of the
//     runtime. A wake-up that comes before the sleep leaves the note set,
//     so the sleep returns at once.
//  4. While it sleeps for its G the M is counted in runtime::nmidlelocked
//     (M::lockwait set, both under the sched lock): checkdead treats it as
//     idle, since it cannot wake anybody. startlockedm (or finish) takes it
//     out of the count under the same lock, before the waker itself can go
//     idle, so the count never claims a deadlock while a locked G is being
//     handed over.
//  5. A fiber that ends while locked retires its thread, as Go does: the
//     thread may carry state the fiber changed (signal mask, scheduling
//     policy, namespaces, thread_locals), which no other fiber should
//     inherit. The M hands its P on, leaves mcount and its thread exits
//     (run() joins it). m0, the thread that called goro::run, must return
//     from run, so it is retired without exiting: it sleeps (counted in
//     nmidlelocked) until the runtime is done, runs no fiber meanwhile,
//     then returns from run as usual.
//
// M states: running -> locked (stoplockedm, asleep for its G) -> running;
// running -> retired (mretire). The P of a stopping or handing-over M goes
// through P state `taken` (let go by its M, in transit) like a P sysmon
// took.
#pragma once

namespace goro::rt {

struct G;
struct M;

// schedule(), m->lockedg set and not running: give the P away and sleep
// until the locked G is handed back with a P (rule 3). False: the runtime
// is done.
bool stoplockedm(M* m);
// schedule(), on m holding a P: g, taken off a queue, is locked to another
// M; give it our P and that M (rule 2). m is left without a P.
void startlockedm(M* m, G* g);
// The locked g (status runnable, off every queue) lost its P: hand it back
// to its own M m, which is on g0 about to stoplockedm: with an idle P if
// there is one, else on the global queue (handle_action, rejoin and
// blocking_exit).
void locked_rejoin(M* m, G* g);
// schedule(), m->retire set: the locked fiber ended (rule 5).
void mretire(M* m);

}  // namespace goro::rt
