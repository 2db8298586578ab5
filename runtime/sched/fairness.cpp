// local_pick and the streak time slice (the essay is in fairness.hpp).
#include "sched/fairness.hpp"

#include <mutex>

#include "os/clock.hpp"
#include "sched/g.hpp"
#include "sched/p.hpp"
#include "sched/runtime.hpp"
#include "sched/schedule.hpp"

namespace goro::rt {

namespace {

// Count one more pick that bypassed the ring; true when the streak has used
// up its time slice (and then the streak starts over).
bool slice_expired(P* p) {
  if ((++p->fair.streak & 63) != 0) return false;
  const std::int64_t now = coarse_now_ns();
  if (p->fair.streak_start == 0) {
    p->fair.streak_start = now;
    return false;
  }
  if (now - p->fair.streak_start < p->knobs.time_slice_ns) return false;
  p->fair.streak = 0;
  p->fair.streak_start = 0;
  return true;
}

// Whether a pick at this schedtick looks at the global queue first: every
// `every`th (the global_check knob; 0: never). The default, Go's 61, is a
// constant, so its test costs a multiplication, not a division; other
// values divide (a few nanoseconds per pick, in studies only).
bool global_turn(std::uint32_t tick, std::uint32_t every) {
  if (__builtin_expect(every == 61, 1)) return tick % 61 == 0;
  return every == 1 || (every != 0 && tick % every == 0);
}

void ring_picked(P* p) {
  p->fair.streak = 0;
  p->fair.streak_start = 0;
}

// The next of the turns owed since a streak expired (see local_pick), or
// none once they are all taken (turns_owed is then false).
found owed_turn(runtime* rt, P* p) {
  G* g = nullptr;
  if (p->fair.ring_turns > 0) {
    p->fair.ring_turns--;
    g = p->runq.get_ring();
    if (g == nullptr) p->fair.ring_turns = 0;  // thieves took the rest
  }
  if (g == nullptr && p->fair.global_turns > 0) {
    // One at a time, straight from the global queue: a batch would land
    // behind the ring's Gs, which have had their turn.
    p->fair.global_turns--;
    if (rt->runq.size() > 0) {
      std::lock_guard<futex_lock> l(rt->lock);
      g = globrunq_get(rt, p, 1);
    }
    if (g == nullptr) p->fair.global_turns = 0;  // other Ps took the rest
  }
  if (g == nullptr) {
    p->fair.turns_owed = false;  // the last turn: the oldest continuation's
    g = p->conts.steal();
  }
  if (g != nullptr) ring_picked(p);
  return {g, false};
}

}  // namespace

found local_pick(runtime* rt, P* p) {
  // Fairness: now and then look at the global queue first, so that two Gs
  // handing work back and forth on a local queue cannot starve it.
  if (global_turn(p->fair.schedtick, p->knobs.global_check) && rt->runq.size() > 0) {
    std::lock_guard<futex_lock> l(rt->lock);
    if (G* g = globrunq_get(rt, p, 1)) return {g, false};
  }
  // runnext (inherits the time slice), then the most recent continuation
  // (depth first through a fork-join tree), then the ring; but see
  // fairness.hpp.
  if (p->fair.streak_expired) {
    // The streak is over. Like Go's preempted goroutine, which goes to the
    // tail of the global queue, it now waits while every G queued at this
    // moment runs once: first those on our ring, then those on the global
    // queue (where our ring overflows to; the 1-in-61 check alone drains
    // it far too slowly behind a streak), then the oldest continuation (a
    // spawner that handed its P to its child). One turn per slice for the
    // ring's head alone let a spawning loop starve its own timer wake-ups.
    p->fair.streak_expired = false;
    p->fair.ring_turns = p->runq.ring_size();
    p->fair.global_turns = static_cast<std::uint32_t>(rt->runq.size());
    p->fair.turns_owed = true;
  }
  if (__builtin_expect(p->fair.turns_owed, 0)) {
    if (found f = owed_turn(rt, p); f.g) return f;
  }
  if (G* g = p->runq.take_next()) {
    p->fair.streak_expired = slice_expired(p);
    return {g, true};
  }
  if (G* g = p->conts.pop()) {
    p->fair.streak_expired = slice_expired(p);
    return {g, false};
  }
  if (G* g = p->runq.get_ring()) {
    ring_picked(p);
    return {g, false};
  }
  return {};
}

}  // namespace goro::rt
