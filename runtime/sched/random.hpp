// Randomised scheduling, for tests (the CMake option GORO_RANDOMIZE_SCHED,
// like Go's randomizeScheduler under the race detector): at each of these
// choice points a coin decides instead of the policy, so that no test leans
// on one order. Off (constant false, compiled away) in normal builds.
//
//   runq_put:     a fiber readied into runnext goes to the ring's tail;
//   spawn_commit: the spawner keeps running instead of handing its P to
//                 the new fiber;
//   steal_work:   any round may steal a victim's runnext and continuations,
//                 not only the last.
//
// Every choice stays legal: each is one the scheduler makes anyway in some
// other situation.
#pragma once

#include "sched/m.hpp"
#include "sched/p.hpp"

#ifndef GORO_RANDOMIZE_SCHED
#define GORO_RANDOMIZE_SCHED 0
#endif

namespace goro::rt {

inline constexpr bool randomize_sched = GORO_RANDOMIZE_SCHED != 0;

inline bool randomize_runnext_off(P* p) noexcept {
  if constexpr (randomize_sched) return p->m != nullptr && (p->m->rng.next() & 1) != 0;
  return false;
}
inline bool randomize_no_handoff(M* m) noexcept {
  if constexpr (randomize_sched) return (m->rng.next() & 1) != 0;
  return false;
}
inline bool randomize_steal_next(M* m) noexcept {
  if constexpr (randomize_sched) return (m->rng.next() & 1) != 0;
  return false;
}

}  // namespace goro::rt
