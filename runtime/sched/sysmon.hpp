// sysmon: one thread per runtime, without a P, that watches the Ps (Go's
// sysmon / retake). The protocol by which it takes a P is in retake.hpp;
// the idle Ms it hands Ps to, in spare.hpp.
//
// Each round it looks at every P that is owned and running something:
//  - inside goro::blocking for at least one tick (20 us by default): take
//    the P and hand it to another M, unless nothing waits for it (no local
//    work, and spinning or idle Ps exist to pick up new work) and the call
//    has lasted less than a time slice;
//  - running the same fiber for a time slice (10 ms; the time_slice knob,
//    sched/knobs.hpp, changes it) while other fibers wait for that P, with
//    its thread either computing (a hog) or asleep in the kernel (a
//    blocking call nobody wrapped in goro::blocking; os/thread_state.hpp):
//    take the P the same way. The fiber keeps its
//    thread and runs on; at its next runtime call it finds the P gone and
//    its thread leaves the fiber to the queues (retake.hpp). A thread that is
//    runnable but off the CPU keeps its P;
//  - queued work on a P whose owner has not switched fibers for a tick,
//    while Ps are idle and nobody spins: wake a spinning M to steal it (a
//    lone runnext fiber does not wake anyone when it is readied; see ready()).
// It sleeps one tick between rounds, doubling up to 10 ms after 50 rounds
// with nothing to do (at most 1 ms, or a tenth of a shorter time slice,
// while fibers wait behind a running one),
// and sleeps without a timeout while every P is idle
// (woken when a P leaves the idle list), so an idle runtime costs nothing.
#pragma once

namespace goro::rt {

struct runtime;

// Start sysmon (and the spare Ms it hands Ps to) unless the runtime's tick
// is 0; stop it before the Ms leave (it may hand Ps to them).
void sysmon_start(runtime* rt);
void sysmon_stop(runtime* rt);
// A P left the idle list: wake sysmon if it sleeps because every P was idle.
void sysmon_wake_if_sleeping(runtime* rt);

}  // namespace goro::rt
