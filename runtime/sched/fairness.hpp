// Which fiber a P runs next from its own queues, and the time slice that
// keeps two fibers handing work back and forth from starving the rest.
//
// Fibers picked from runnext, from the continuation deque or by a spawn's
// hand-off bypass the ring (FIFO). Go lets them inherit the current 10 ms
// time slice, and preempts the G when it ends; goro cannot interrupt a
// fiber, so a pair of fibers readying each other through runnext would run
// forever while the ring waits. Instead, once such a streak has lasted a time
// slice (10 ms, Go's forcePreemptNS; the time_slice knob,
// P::knobs.time_slice_ns, changes it), it expires: every G queued at that
// moment (the ring, then the global queue, then the oldest continuation)
// gets one turn before the streak goes on. The clock (coarse_now_ns) is read only every 64 picks.
// Every 61st pick that does not inherit a slice looks at the global queue
// first (Go's schedtick check; the global_check knob changes the 61).
#pragma once

#include <cstdint>

namespace goro::rt {

struct G;
struct P;
struct runtime;

// A P's fairness state; its holder's only.
struct fairness {
  // +1 per scheduling decision that does not inherit a time slice; every
  // 61st (P::knobs.global_check) checks the global queue first.
  std::uint32_t schedtick = 0;
  // Consecutive picks that bypassed the ring, and when the streak was first
  // timed (0: not yet).
  std::uint32_t streak = 0;
  std::int64_t streak_start = 0;
  bool streak_expired = false;  // the next pick starts the turns below
  // After an expired streak, the picks still owed (turns_owed), in this
  // order: to the Gs on the ring (FIFO), to those on the global queue when
  // it expired (one at a time), then one to the oldest continuation.
  std::uint32_t ring_turns = 0;
  std::uint32_t global_turns = 0;
  bool turns_owed = false;
};

struct found {
  G* g = nullptr;
  bool inherit_time = false;  // from runnext: inherits the time slice
};

// What p's holder runs next from p's own queues (or, now and then for
// fairness, the global queue); empty if they are empty. Not p's timers.
found local_pick(runtime* rt, P* p);

}  // namespace goro::rt
