// Timers in the scheduler (the design is in timers.hpp).
#include "time/timers.hpp"

#include <climits>
#include <mutex>
#include <stdexcept>

#include "debug/fatal.hpp"
#include "goro/detail/timer.hpp"
#include "sched/caller.hpp"
#include "sched/idle.hpp"
#include "sched/m.hpp"
#include "sched/p.hpp"
#include "sched/runtime.hpp"
#include "time/timer_heap.hpp"

namespace goro::rt {

bool run_timers(P* p, std::int64_t now, std::size_t max) {
  timer_heap& th = p->timers;
  const std::int64_t e = th.earliest.load(std::memory_order_relaxed);
  if (e == 0 || e > now || max == 0) return false;
  std::lock_guard<futex_lock> l(th.lock);
  return th.run_due(now, max);
}

std::int64_t next_timer(runtime* rt) {
  std::int64_t next = 0;
  for (auto& p : rt->allp) {
    const std::int64_t e = p->timers.earliest.load(std::memory_order_relaxed);
    if (e != 0 && (next == 0 || e < next)) next = e;
  }
  return next;
}

void drop_all_timers(runtime* rt) {
  for (auto& p : rt->allp) {
    std::lock_guard<futex_lock> l(p->timers.lock);
    p->timers.drop_all();
  }
}

}  // namespace goro::rt

namespace goro::detail {

using namespace goro::rt;

void timer_start(timer_node* t) {
  const caller c = classify();
  if (c.kind == caller_kind::thread) throw std::logic_error("goro: timers need a goro runtime (call from a fiber)");
  runtime* rt = c.m->rt;
  // The heap is locked, so whether we own m->p does not matter: any heap
  // will do; ours is the likeliest to be checked soon.
  P* p = c.m->p ? c.m->p : rt->allp[0].get();
  GORO_CHECK(timer_access::holder(t) == nullptr, "timer started twice");
  bool first;
  const std::int64_t when = t->when;  // t may fire (and be freed) once the lock is released
  {
    std::lock_guard<futex_lock> l(p->timers.lock);
    first = p->timers.push(t);
  }
  // An idle M sleeps until the earliest timer: if this one is earlier, wake
  // it to sleep less. seq_cst fence: our `earliest` store above and the
  // idle M's sleep_until store (then its read of `earliest`) must not both
  // be missed (store-buffer pattern); stopm has the matching fence.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (first && when < rt->sleep_until.load(std::memory_order_relaxed)) {
    std::unique_lock<futex_lock> l(rt->lock);
    M* s = rt->timed_sleeper;
    if (s != nullptr && when < rt->sleep_until.load(std::memory_order_relaxed) && mremove(rt, s)) {
      rt->timed_sleeper = nullptr;
      rt->sleep_until.store(INT64_MAX, std::memory_order_relaxed);
      s->retime = true;
      l.unlock();
      wake_m(s);
    }
  }
}

bool timer_stop(timer_node* t) noexcept {
  for (;;) {
    timer_heap* h = timer_access::holder(t);
    if (h == nullptr) {
      // Not pending. A one-shot leaves its heap just before it fires, so its
      // fire may still be running: wait it out by taking that heap's lock
      // (fire runs under it).
      if (timer_heap* home = timer_access::home(t)) {
        std::lock_guard<futex_lock> l(home->lock);
      }
      return false;
    }
    std::lock_guard<futex_lock> l(h->lock);
    if (timer_access::holder(t) != h) continue;  // fired or moved meanwhile: look again
    h->remove(t);
    return true;
  }
}

}  // namespace goro::detail
