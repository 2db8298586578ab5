// Who is calling into the runtime. Every entry point that behaves
// differently for fibers and threads asks classify() once, instead of
// re-deriving it from current_m(), curg and the fiber's status.
//
//   thread    a thread that is not an M of any runtime (m and g null).
//   g0        an M on its scheduler stack: the scheduling loop, a timer's
//             fire callback run by it, a park's unlock callback (g null).
//             (After a direct switch, a park's unlock runs on the next
//             fiber's stack instead, and classifies as that fiber; ready()
//             tells the two apart by M::in_rt.)
//   fiber     a fiber running its own code (g->status running). It may park.
//   blocking  a fiber inside goro::blocking (g->status syscall): its thread
//             may be given away, so it must block the thread, never park.
//
// A fiber's M can change at every switch, so a caller is valid until the
// next scheduling point only (re-classify after yield, park or go).
#pragma once

#include <atomic>
#include <cstdint>

#include "sched/g.hpp"
#include "sched/m.hpp"

namespace goro::rt {

enum class caller_kind : std::uint8_t { thread, g0, fiber, blocking };

struct caller {
  caller_kind kind;
  M* m;  // null for a thread
  G* g;  // the calling fiber (fiber, blocking), else null
};

inline caller classify() noexcept {
  M* m = current_m();
  if (m == nullptr) return {caller_kind::thread, nullptr, nullptr};
  G* g = m->curg;
  if (g == nullptr) return {caller_kind::g0, m, nullptr};
  // relaxed: only this M writes the running fiber's status.
  const gstatus s = g->status.load(std::memory_order_relaxed);
  return {s == gstatus::syscall ? caller_kind::blocking : caller_kind::fiber, m, g};
}

}  // namespace goro::rt
