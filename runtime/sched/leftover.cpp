// Unwinding the fibers left blocked when main returns; the protocol is in
// leftover.hpp.
#include "sched/leftover.hpp"

#include <mutex>

#include "goro/detail/wait.hpp"
#include "sched/g.hpp"
#include "sched/park.hpp"
#include "sched/runtime.hpp"

namespace goro::rt {

bool leftovers_cancellable(runtime* rt) {
  std::lock_guard<futex_lock> l(rt->allglock);
  for (G* g = rt->allg; g; g = g->allnext) {
    const gstatus s = g->status.load(std::memory_order_relaxed);  // every M idle: stable
    if (s == gstatus::dead) continue;
    if (s != gstatus::waiting || g->parker == nullptr || g->parker->cancel == nullptr) return false;
  }
  return true;
}

void unwind_leftovers(runtime* rt) {
  // 1. The waiting fibers, linked through schedlink (a waiting G is on no
  //    run queue or free list, so the link is free). Their Gs stay
  //    allocated while they wait, so the list outlives allglock.
  G* waiting = nullptr;
  {
    std::lock_guard<futex_lock> l(rt->allglock);
    for (G* g = rt->allg; g; g = g->allnext) {
      // relaxed: checkdead saw every M idle; the sched lock and the note
      // that woke us order what their Ms wrote before idling.
      if (g->status.load(std::memory_order_relaxed) != gstatus::waiting) continue;
      if (g->parker == nullptr || g->parker->cancel == nullptr) continue;  // cannot be cancelled: reported later
      g->schedlink = waiting;
      waiting = g;
    }
  }
  // 2. Every hook, before any fiber runs again.
  G* cancelled = nullptr;
  while (G* g = waiting) {
    waiting = g->schedlink;
    detail::parker* p = g->parker;
    if (p->cancel(p->cancel_arg)) {
      p->cancelled = true;
      g->schedlink = cancelled;
      cancelled = g;
    } else {
      g->schedlink = nullptr;  // a waker took it first and readies it
    }
  }
  // 3. Ready them: they resume in parker_block and throw fiber_cancelled.
  while (G* g = cancelled) {
    cancelled = g->schedlink;  // before ready: the link is the run queue's then
    g->schedlink = nullptr;
    ready(g);
  }
}

}  // namespace goro::rt
