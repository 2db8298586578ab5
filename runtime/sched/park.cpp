// Fiber-side entry points that give up the P for a while: park, ready,
// yield (Go's gopark / goready / Gosched).
#include "sched/park.hpp"

#include <mutex>
#include <stdexcept>

#include "debug/fatal.hpp"
#include "goro/this_fiber.hpp"
#include "sched/caller.hpp"
#include "sched/g.hpp"
#include "sched/idle.hpp"
#include "sched/m.hpp"
#include "sched/p.hpp"
#include "sched/retake.hpp"
#include "sched/runtime.hpp"
#include "sched/schedule.hpp"
#include "sched/switch.hpp"
#include "trace/trace.hpp"

namespace goro::rt {

void park(detail::wait_reason why, void (*unlock)(void*), void* arg) {
  const caller c = classify();
  if (c.kind == caller_kind::blocking)
    fatal("goro::rt::park", "cannot park inside goro::blocking (the fiber's thread is given away)");
  if (c.kind != caller_kind::fiber) fatal("goro::rt::park", "called outside a fiber");
  M* m = c.m;
  G* g = c.g;
  enter_runtime(m);  // with or without a P: parking needs none
  g->waitreason.store(why, std::memory_order_relaxed);
  g->park_unlock = unlock;
  g->park_arg = arg;
  m->action = m_action::park;
  P* p = m->p;  // entered above: if still set, sysmon cannot take it now
  if (p == nullptr || !switch_direct(m, g, p)) switch_to_g0(m, g);
  g->waitreason.store(detail::wait_reason::none, std::memory_order_relaxed);
  if (g->waiting_on.load(std::memory_order_relaxed) != nullptr) {
    g->waiting_on.store(nullptr, std::memory_order_relaxed);
    g->wait_peer.store(0, std::memory_order_relaxed);
  }
}

void ready(G* g) noexcept {
  runtime* rt = g->rt;
  casgstatus(g, gstatus::waiting, gstatus::runnable, "ready");
  const caller c = classify();
  M* m = c.m;
  // Called from a fiber's code (not from g0, nor inside goro::blocking, nor
  // from a park's unlock running on top of the next fiber's stack, where
  // the M is in the runtime): claim the P against sysmon for the duration.
  const bool from_fiber = c.kind == caller_kind::fiber && m->rt == rt && !m->in_rt.load(std::memory_order_relaxed);
  // Before g is queued: once queued, another M may run it.
  if (trace::enabled()) trace::readied(m != nullptr && m->rt == rt ? m : nullptr, g, from_fiber);
  P* p = from_fiber ? enter_runtime(m) : nullptr;
  if (p != nullptr) {
    // The readied G runs next on this P, inheriting the time slice (a
    // producer and consumer then ping-pong on one P with warm caches); with
    // the runnext knob off, it queues behind the ring instead (runq_put).
    runq_put(p, g, true);
    bump(p->ctr.wakeups);
    // Wake another M only if this P now has more than that one G (as
    // Tokio does for its LIFO slot). A lone runnext G runs here as soon as
    // the current G blocks, which is the usual case (a channel hand-off);
    // waking an M for it costs a futex round trip and lets a spinner steal
    // it, splitting the pair across cores.
    // sysmon wakes one if such a G waits too long (sysmon.cpp). With the
    // steal knob off, no other M could take them: wake nobody.
    // A locked fiber's M never runs the readied G itself: wake one.
    if (((p->runq.size() > 1 || !p->conts.empty()) && p->knobs.steal) || m->lockedg != nullptr) wakep(rt);
    leave_runtime(m);
    return;
  }
  if (from_fiber) leave_runtime(m);  // sysmon took our P: use the global queue
  if (c.kind == caller_kind::g0 && m->rt == rt && m->p != nullptr && m->in_rt.load(std::memory_order_relaxed)) {
    // On g0 with a P (a timer firing in find_runnable): FIFO on our ring.
    // A batch of timer fires wakes one M at its end (fire_timers); none
    // with the steal knob off, since no other M could take them.
    runq_put(m->p, g, false);
    bump(m->p->ctr.wakeups);
    if (!m->p->knobs.steal) return;
    if (m->batching_readies)
      m->batched_ready = true;
    else
      wakep(rt);
    return;
  }
  // From a thread outside this runtime (or without a P). Once g is queued
  // it may run and finish, and the runtime end, before wakep returns: the
  // in-flight count keeps run() from freeing the runtime under us.
  // seq_cst/release: run() waits with an acquire load for zero after every
  // fiber (including g) has finished, so it sees our increment.
  rt->external_inflight.fetch_add(1, std::memory_order_seq_cst);
  rt->wakeups_nop.fetch_add(1, std::memory_order_relaxed);  // a count
  {
    std::lock_guard<futex_lock> l(rt->lock);
    globrunq_put(rt, g);
  }
  wakep(rt);
  rt->external_inflight.fetch_sub(1, std::memory_order_release);
}

}  // namespace goro::rt

namespace goro::detail {

void note_wait_edge(const void* obj, std::uint64_t peer) noexcept {
  const rt::caller c = rt::classify();
  if (c.kind != rt::caller_kind::fiber) return;
  c.g->waiting_on.store(obj, std::memory_order_relaxed);
  c.g->wait_peer.store(peer, std::memory_order_relaxed);
}

}  // namespace goro::detail

namespace goro::this_fiber {

void yield() {
  using namespace goro::rt;
  const caller c = classify();
  if (c.kind == caller_kind::blocking)
    throw std::logic_error("goro::this_fiber::yield: cannot yield inside goro::blocking");
  if (c.kind != caller_kind::fiber) throw std::logic_error("goro::this_fiber::yield: must be called from a fiber");
  P* p = enter_runtime(c.m);
  if (c.g->lockedm != nullptr && p != nullptr && !p->has_work() && c.m->rt->runq.size() == 0 && !timers_due(p)) {
    // Locked, and nothing else wants this P: yielding would hand the P to
    // another M only to have it handed straight back (sched/lockedm.hpp).
    c.g->trace_from = trace::from::unknown;  // no yield happened (preempt_point may have said one would)
    leave_runtime(c.m);
    return;
  }
  c.m->action = m_action::yield;
  if (p == nullptr || !switch_direct(c.m, c.g, p)) switch_to_g0(c.m, c.g);
}

void preempt_point() noexcept {
  using namespace goro::rt;
  const caller c = classify();
  if (c.kind != caller_kind::fiber) return;
  P* p = c.m->p;  // a racy read: P objects live as long as the runtime
  if (p == nullptr || !p->preempt.load(std::memory_order_relaxed)) return;
  if (trace::enabled()) trace::preempted_yield(c.g);
  yield();
}

std::uint64_t id() noexcept {
  const goro::rt::caller c = goro::rt::classify();
  return c.g ? goid_of(c.g) : 0;
}

}  // namespace goro::this_fiber
