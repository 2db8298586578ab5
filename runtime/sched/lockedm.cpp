// Locked fibers and their Ms (the rules are in lockedm.hpp).
#include "sched/lockedm.hpp"

#include <cstdint>
#include <mutex>
#include <stdexcept>

#include "debug/checkdead.hpp"
#include "debug/fatal.hpp"
#include "goro/this_fiber.hpp"
#include "sched/caller.hpp"
#include "sched/g.hpp"
#include "sched/idle.hpp"
#include "sched/m.hpp"
#include "sched/p.hpp"
#include "sched/runtime.hpp"
#include "sched/schedule.hpp"

namespace goro::rt {

namespace {

// m lets go of its P for another M to take (P state taken: in transit).
void handoff_own_p(M* m, const char* fn) {
  P* p = releasep(m);
  caspstatus(p, pstatus::running, pstatus::taken, fn);
  handoffp(m->rt, p);
}

// Sleep on m's note until the wake-up that answers this sleep (rule 3).
void sleep_for_handoff(M* m, mstatus st) {
  casmstatus(m, mstatus::running, st, "stoplockedm");
  m->park.sleep();
  m->park.clear();
  if (st == mstatus::locked) casmstatus(m, mstatus::locked, mstatus::running, "stoplockedm");
}

}  // namespace

bool stoplockedm(M* m) {
  runtime* rt = m->rt;
  GORO_CHECK(m->lockedg != nullptr, "stoplockedm without a locked fiber");
  if (m->p != nullptr) handoff_own_p(m, "stoplockedm");
  {
    std::lock_guard<futex_lock> l(rt->lock);
    if (rt->done) return false;
    // Unless the hand-back is already here (nextp set), we are idle for
    // checkdead until it comes (rule 4).
    if (m->nextp == nullptr) {
      m->lockwait = true;
      rt->nmidlelocked++;
      checkdead(rt);
    }
  }
  sleep_for_handoff(m, mstatus::locked);
  P* p;
  {
    std::lock_guard<futex_lock> l(rt->lock);
    p = m->nextp;
    m->nextp = nullptr;
  }
  if (p == nullptr) return false;  // woken by finish: the runtime is done
  acquirep(m, p);
  return true;
}

void startlockedm(M* m, G* g) {
  runtime* rt = m->rt;
  M* lm = g->lockedm;
  GORO_CHECK(lm != m, "a locked fiber queued while its own M was free to run it");
  P* p = releasep(m);
  caspstatus(p, pstatus::running, pstatus::taken, "startlockedm");
  {
    std::lock_guard<futex_lock> l(rt->lock);
    GORO_CHECK(lm->nextp == nullptr, "locked M handed two Ps");
    lm->nextp = p;
    if (lm->lockwait) {
      lm->lockwait = false;
      rt->nmidlelocked--;
    }
  }
  // g goes with it: lm runs m->lockedg once it has the P. The note's
  // release orders our writes (g taken off its queue, nextp) before lm's
  // reads. m itself goes idle in schedule (it has no P now).
  lm->park.wakeup();
}

void locked_rejoin(M* m, G* g) {
  runtime* rt = m->rt;
  GORO_CHECK(g->lockedm == m && m->lockedg == g, "locked_rejoin of a fiber not locked to this M");
  bool self = false;
  {
    std::lock_guard<futex_lock> l(rt->lock);
    if (P* p = pidleget(rt)) {
      m->nextp = p;  // the hand-back to ourselves: stoplockedm finds it
      self = true;
    } else {
      globrunq_put(rt, g);  // a P-holder that takes it hands us its P
    }
  }
  if (self) m->park.wakeup();  // answers stoplockedm's sleep (rule 3)
}

void mretire(M* m) {
  runtime* rt = m->rt;
  m->retire = false;
  if (m->p != nullptr) handoff_own_p(m, "mretire");
  const bool m0 = m->id == 0;  // allocm numbers Ms in creation order; run_main makes m0 first
  {
    std::lock_guard<futex_lock> l(rt->lock);
    casmstatus(m, mstatus::running, mstatus::retired, "mretire");
    if (!m0) {
      rt->mcount--;  // its thread exits: it can never wake anybody again
      rt->nretired++;  // for newm to join
      if (!rt->done) checkdead(rt);
      return;
    }
    if (rt->done) return;
    // m0 stays, asleep, until the runtime is done (rule 5).
    m->lockwait = true;
    rt->nmidlelocked++;
    checkdead(rt);
  }
  m->park.sleep();
  m->park.clear();
}

}  // namespace goro::rt

namespace goro::this_fiber {

void lock_os_thread() {
  using namespace goro::rt;
  const caller c = classify();
  if (c.kind != caller_kind::fiber && c.kind != caller_kind::blocking)
    throw std::logic_error("goro::this_fiber::lock_os_thread: must be called from a fiber");
  G* g = c.g;
  if (g->lockcount == UINT32_MAX) throw std::logic_error("goro::this_fiber::lock_os_thread: nesting overflow");
  // No switch happens here, so c.m is this fiber's M throughout. The
  // fields are the fiber's and its M's own; whoever takes g off a queue
  // later reads lockedm after the queue's hand-off.
  if (g->lockcount++ == 0) {
    g->lockedm = c.m;
    c.m->lockedg = g;
  }
}

void unlock_os_thread() {
  using namespace goro::rt;
  const caller c = classify();
  if (c.kind != caller_kind::fiber && c.kind != caller_kind::blocking)
    throw std::logic_error("goro::this_fiber::unlock_os_thread: must be called from a fiber");
  G* g = c.g;
  if (g->lockcount == 0) return;  // not locked: a no-op, as in Go
  if (--g->lockcount == 0) {
    c.m->lockedg = nullptr;
    g->lockedm = nullptr;
  }
}

}  // namespace goro::this_fiber
