// Blocking calls and rejoining after a retake (the design is in syscall.hpp).
#include "sched/syscall.hpp"

#include <mutex>
#include <stdexcept>

#include "debug/fatal.hpp"
#include "goro/blocking.hpp"
#include "goro/this_fiber.hpp"
#include "sched/caller.hpp"
#include "sched/g.hpp"
#include "sched/idle.hpp"
#include "sched/m.hpp"
#include "sched/p.hpp"
#include "sched/retake.hpp"
#include "sched/runtime.hpp"
#include "sched/switch.hpp"
#include "trace/trace.hpp"

namespace goro::rt {

void rejoin(M* m, G* g) {
  runtime* rt = m->rt;
  {
    std::lock_guard<futex_lock> l(rt->lock);
    if (P* p = pidleget(rt)) {
      acquirep(m, p);
      if (trace::enabled()) trace::run_moved(m, g);
      return;
    }
  }
  m->action = m_action::rejoin;
  switch_to_g0(m, g);  // resumed by execute() on an M with a P, outside the runtime
}

}  // namespace goro::rt

namespace goro::detail {

using namespace goro::rt;

void enter_blocking() {
  const caller c = classify();
  if (c.kind == caller_kind::blocking) throw std::logic_error("goro::blocking: already inside goro::blocking");
  if (c.kind != caller_kind::fiber) throw std::logic_error("goro::blocking: must be called from a fiber");
  M* m = c.m;
  G* g = c.g;
  // Cheap: the P stays with us, marked; sysmon takes it and hands it to
  // another M if the call lasts (a tick, 20 us, when other work waits for
  // it; sysmon.cpp).
  P* p = enter_runtime(m);
  casgstatus(g, gstatus::running, gstatus::syscall, "enter_blocking");
  casmstatus(m, mstatus::running, mstatus::syscall, "enter_blocking");
  g->syscall_oldp = p;
  if (p != nullptr) {
    p->syscalltick.store(p->syscalltick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    caspstatus(p, pstatus::running, pstatus::syscall, "enter_blocking");
  }
  if (trace::enabled()) trace::blocking_begin(m, g);
  leave_runtime(m);
}

void exit_blocking() {
  const caller c = classify();
  if (c.kind != caller_kind::blocking) fatal("goro::detail::exit_blocking", "not inside goro::blocking");
  M* m = c.m;
  G* g = c.g;
  runtime* rt = m->rt;
  P* oldp = g->syscall_oldp;
  g->syscall_oldp = nullptr;
  casmstatus(m, mstatus::syscall, mstatus::running, "exit_blocking");
  const bool tracing = trace::enabled();
  if (tracing) trace::blocking_end(m, g);
  // Fast path: sysmon did not take our P.
  if (P* p = enter_runtime(m)) {
    caspstatus(p, pstatus::syscall, pstatus::running, "exit_blocking");
    casgstatus(g, gstatus::syscall, gstatus::running, "exit_blocking");
    if (tracing) trace::run_begin(m, g);
    // sysmon asked this fiber to give up its P (its slice is over and
    // others wait). A fiber looping over short blocking calls is in the
    // runtime so often that sysmon's retake, which gives up whenever the
    // M is in the runtime, almost never succeeds: it yields here instead,
    // as it would at a preempt_point. (relaxed: a hint, as there.)
    const bool asked = p->preempt.load(std::memory_order_relaxed);
    if (asked && tracing) trace::preempted_yield(g);
    leave_runtime(m);
    if (asked) goro::this_fiber::yield();
    return;
  }
  {
    std::lock_guard<futex_lock> l(rt->lock);
    // Our old P if it went idle meanwhile, else any idle P.
    P* p = oldp != nullptr && pidleremove(rt, oldp) ? oldp : pidleget(rt);
    if (p) {
      acquirep(m, p);
      casgstatus(g, gstatus::syscall, gstatus::running, "exit_blocking");
      if (tracing) trace::run_begin(m, g);
      leave_runtime(m);
      return;
    }
  }
  // No P: wait on the global queue (g0 queues us after we switched out).
  m->action = m_action::blocking_exit;
  switch_to_g0(m, g);
}

}  // namespace goro::detail
