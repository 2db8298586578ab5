// The scheduling loop and the run queues' shared operations (Go's schedule /
// findRunnable / runqput / globrunqput / globrunqget).
#pragma once

#include <cstdint>

namespace goro::rt {

struct G;
struct M;
struct P;
struct runtime;

// Run fibers on m (on its g0 stack) until the runtime is done.
void schedule(M* m);

// Queue g on p's local queue (p's holder only): in runnext with `next`
// (unless the runnext knob is off), else at the ring's tail; a full ring
// moves half of itself to the global queue.
void runq_put(P* p, G* g, bool next);
// Put g, just taken off p's local queues for a direct switch that will not
// happen (switch.cpp, pick_direct), back in front, in runnext, so that g0
// picks it first (p's holder only).
void runq_unpick(P* p, G* g);
// The global run queue (sched lock held): append g; take a batch of at most
// len/procs + 1 (at most `max` if nonzero, at most half a local queue) for
// p, returning one G to run and putting the rest on p's ring.
void globrunq_put(runtime* rt, G* g);
G* globrunq_get(runtime* rt, P* p, std::int32_t max);

// p has a timer whose time has come.
bool timers_due(P* p);

// Make g, picked for m's P, the fiber running on m (before switching to it).
void start_running(M* m, G* g, bool inherit_time);
// Carry out m->action for g, which just switched out (its context saved).
void handle_action(M* m, G* g);

}  // namespace goro::rt
