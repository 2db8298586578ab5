// Leaving and resuming fibers: through g0 (Go's mcall), or straight from
// one fiber to the next of the same P (a direct switch), and a fiber's
// first and last moments (fiber_main). docs/design.md, "Switching".
#pragma once

#include "fiber/fcontext.hpp"

namespace goro::rt {

struct G;
struct M;
struct P;

// Switch from fiber g (running on m, in the runtime) to m's g0, which
// carries out m->action. Returns when g is resumed, on whichever M resumed
// it.
void switch_to_g0(M* m, G* g);
// The fiber g, in the runtime on m with m's P, switches straight to next
// (taken off a queue of that P) without going through g0; on next's stack,
// before next resumes, handle_action carries out m->action for g. Returns
// when g is resumed (on whichever M, outside the runtime).
void switch_to_fiber(M* m, G* g, G* next, bool inherit_time);
// g leaves for m->action (yield or park): pick the next fiber from p's own
// queues and switch straight to it. False, without switching, when the
// choice needs g0 (p's timers are due, p's own queues are empty, or the
// next fiber is short of stack); true once g is resumed.
bool switch_direct(M* m, G* g, P* p);
// g0's side: run g on m until a fiber switches back to g0, then carry out
// what that fiber asked for.
void execute(M* m, G* g, bool inherit_time);
// Every fiber's entry point (its context starts here).
void fiber_main(transfer_t t);

}  // namespace goro::rt
