// Timers in the scheduler (Go's runtime timers): every P has a heap
// (timer_heap.hpp); this file is how the scheduler runs them and how the
// public timer_start / timer_stop (goro/detail/timer.hpp) reach them.
//
// Who runs due timers: the P's own M at the top of find_runnable; any M
// looking for work (all Ps' heaps) before it steals or goes idle; the timed
// sleeper, the one idle M that sleeps until the earliest timer
// (sched/idle.cpp, stopm); and sysmon starts an M when timers are overdue
// and nobody is running them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace goro::rt {

struct P;
struct runtime;

// Run up to `max` of p's due timers, earliest first; true if any fired.
// Any M may call it for any P. A fire usually readies one fiber onto the
// caller's P, so callers pass the free slots of their P's run queue: due
// timers left in the heap wait there in deadline order, rather than
// overflowing the ring to the global queue, where they would wait behind
// the ring's later arrivals.
bool run_timers(P* p, std::int64_t now, std::size_t max);
// The earliest pending timer of any P, or 0.
std::int64_t next_timer(runtime* rt);
// Forget every pending timer (the runtime ends): drop hooks run.
void drop_all_timers(runtime* rt);

}  // namespace goro::rt
