// Idle Ps, idle Ms and the spinning protocol (Go's wakep / startm / stopm /
// handoffp and the "worker thread parking/unparking" essay in proc.go).
//
// The tension: wake too few Ms and runnable fibers wait while CPUs idle;
// wake too many and Ms burn CPU searching for work that is not there, or
// sleep and wake constantly (a futex round trip per fiber).
//
// The protocol. An M is *spinning* while it holds a P, has no work and is
// looking for some (stealing). Then:
//
//  1. Submit. Whoever makes a G runnable (go(), ready()) puts it on a queue,
//     then calls wakep(): if there is an idle P and no spinning M, it starts
//     one spinning M (on an idle P). One spinner is enough: if it finds work
//     it starts another (rule 3), so wake-ups ramp up only as far as the
//     work goes.
//  2. Bound. An M only starts spinning while 2 * nmspinning < busy Ps.
//  3. Hand on. A spinning M that finds work stops spinning and calls
//     wakep(), so there may be more work for another spinner.
//  4. Delicate dance. A spinning M that finds nothing puts its P on the idle
//     list, decrements nmspinning, and only *then* looks at every P's queue
//     and the global queue once more, re-acquiring a P and spinning again if
//     one has work. (The global queue matters: threads outside the runtime
//     queue there and also rely on a spinner they see.)
//
// Why no wake-up is lost: a submitter does (a) publish G, (b) read
// npidle/nmspinning; a spinner going idle does (c) increment npidle,
// decrement nmspinning, (d) read the queues. All four are seq_cst (the
// counters are seq_cst RMWs and loads; the run queue tail store is a
// release, followed in wakep by a seq_cst fence), so either the submitter
// sees the spinner gone and wakes an M, or the spinner sees the G. This is
// the StoreLoad pair Go's comment calls "the delicate dance".
//
// Idle Ms sleep on their note (a futex): no CPU is used while idle.
#include <mutex>

#include "debug/fatal.hpp"
#include "sched/retake.hpp"
#include "sched/sched.hpp"

namespace goro::rt {

namespace {

void mput(runtime* rt, M* m) {  // lock held
  m->link = rt->midle;
  rt->midle = m;
  rt->nmidle++;
}

M* mget(runtime* rt) {  // lock held
  M* m = rt->midle;
  if (m) {
    rt->midle = m->link;
    m->link = nullptr;
    rt->nmidle--;
  }
  return m;
}

}  // namespace

bool mremove(runtime* rt, M* m) {
  for (M** pm = &rt->midle; *pm; pm = &(*pm)->link) {
    if (*pm == m) {
      *pm = m->link;
      m->link = nullptr;
      rt->nmidle--;
      return true;
    }
  }
  return false;
}

void pidleput(runtime* rt, P* p) {
  GORO_CHECK(!p->has_work(), "P with runnable fibers put on the idle list");
  p->status = pstatus::idle;
  p->link = rt->pidle;
  rt->pidle = p;
  rt->npidle.fetch_add(1, std::memory_order_seq_cst);  // (c) in the essay above
}

P* pidleget(runtime* rt) {
  P* p = rt->pidle;
  if (p) {
    rt->pidle = p->link;
    p->link = nullptr;
    rt->npidle.fetch_sub(1, std::memory_order_seq_cst);
    sysmon_wake_if_sleeping(rt);  // a P goes busy: sysmon watches again
  }
  return p;
}

bool pidleremove(runtime* rt, P* want) {
  for (P** pp = &rt->pidle; *pp; pp = &(*pp)->link) {
    if (*pp == want) {
      *pp = want->link;
      want->link = nullptr;
      rt->npidle.fetch_sub(1, std::memory_order_seq_cst);
      sysmon_wake_if_sleeping(rt);
      return true;
    }
  }
  return false;
}

void acquirep(M* m, P* p) {
  GORO_CHECK(m->p == nullptr, "M already holds a P");
  GORO_CHECK(p->m == nullptr, "P already held by another M");
  m->p = p;
  p->m = m;
  p->status = pstatus::running;
  // A new ownership generation (retake.hpp). Only the acquirer writes own
  // here; an attempt by sysmon on the old generation fails its CAS.
  const std::uint64_t gen = (p->own.load(std::memory_order_relaxed) >> 2) + 1;
  m->p_gen = gen;
  p->owner.store(m, std::memory_order_relaxed);
  p->own.store(gen << 2 | own_owned, std::memory_order_release);  // after owner: sysmon reads own, then owner
}

P* releasep(M* m) {
  P* p = m->p;
  GORO_CHECK(p != nullptr && p->m == m, "M does not hold its P");
  const std::uint64_t gen = (p->own.load(std::memory_order_relaxed) >> 2) + 1;
  p->own.store(gen << 2 | own_none, std::memory_order_release);
  p->owner.store(nullptr, std::memory_order_relaxed);
  p->m = nullptr;
  m->p = nullptr;
  return p;
}

void wakep(runtime* rt) {
  // (b) in the essay: order our queue publication before these loads.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (rt->npidle.load(std::memory_order_seq_cst) == 0) return;
  // One spinner at a time is enough (rule 1); claim the slot by CAS.
  std::int32_t zero = 0;
  if (rt->nmspinning.load(std::memory_order_seq_cst) != 0 ||
      !rt->nmspinning.compare_exchange_strong(zero, 1, std::memory_order_seq_cst))
    return;
  startm(rt, nullptr, true);
}

void startm(runtime* rt, P* p, bool spinning) {
  std::unique_lock<mutex> l(rt->lock);
  if (p == nullptr) {
    p = pidleget(rt);
    if (p == nullptr) {
      l.unlock();
      // The caller counted us as spinning; nobody will spin after all.
      if (spinning && rt->nmspinning.fetch_sub(1, std::memory_order_seq_cst) <= 0)
        fatal("startm", "negative nmspinning");
      return;
    }
  }
  M* m = mget(rt);
  if (m == nullptr) {
    l.unlock();
    newm(rt, p, spinning);
    return;
  }
  l.unlock();
  m->spinning = spinning;
  m->nextp = p;
  m->park.wakeup();  // release: m reads spinning/nextp after waking
}

bool stopm(M* m) {
  runtime* rt = m->rt;
  GORO_CHECK(m->p == nullptr, "stopm with a P");
  GORO_CHECK(!m->spinning, "stopm while spinning");
  bool may_time = true;
  for (;;) {
    // One idle M (the timed sleeper) sleeps until the earliest timer; the
    // others until someone needs them.
    std::int64_t until = 0;
    {
      std::lock_guard<mutex> l(rt->lock);
      if (rt->done) return false;
      mput(rt, m);
      if (m->coming_spare) {
        m->coming_spare = false;
        rt->spares_coming--;
      }
      checkdead(rt);
      if (may_time && rt->timed_sleeper == nullptr && !rt->done) {
        // Pairs with the fence in timer_start (see there).
        std::atomic_thread_fence(std::memory_order_seq_cst);
        until = next_timer(rt);
        if (until != 0) {
          rt->timed_sleeper = m;
          rt->sleep_until.store(until, std::memory_order_relaxed);
        }
      }
    }
    if (until != 0 && !m->park.sleep_for(until - detail::now_ns())) {
      // Timed out. Still on the idle list, unless startm, finish or a
      // timer_start wanting an earlier wake-up took us off it (then their
      // wake-up is on its way).
      std::unique_lock<mutex> l(rt->lock);
      if (rt->timed_sleeper == m) {
        rt->timed_sleeper = nullptr;
        rt->sleep_until.store(INT64_MAX, std::memory_order_relaxed);
      }
      if (mremove(rt, m)) {
        if (rt->done) return false;
        // Get a P: find_runnable then runs the due timers of every P.
        if (P* p = pidleget(rt)) {
          l.unlock();
          acquirep(m, p);
          return true;
        }
        // Every P is busy: their Ms run their timers. Sleep untimed.
        may_time = false;
        continue;
      }
      l.unlock();
      m->park.sleep();
    } else if (until == 0) {
      m->park.sleep();
    } else {
      // Woken before the deadline (by whoever took us off the idle list).
      std::lock_guard<mutex> l(rt->lock);
      if (rt->timed_sleeper == m) {
        rt->timed_sleeper = nullptr;
        rt->sleep_until.store(INT64_MAX, std::memory_order_relaxed);
      }
    }
    m->park.clear();
    if (m->retime) {  // an earlier timer: recompute the sleep
      m->retime = false;
      may_time = true;
      continue;
    }
    if (m->nextp == nullptr) return false;  // woken by finish(): the runtime is done
    P* p = m->nextp;
    m->nextp = nullptr;
    acquirep(m, p);
    return true;
  }
}

void handoffp(runtime* rt, P* p) {
  // Work on its queue or the global one: start an M for it right away.
  if (p->has_work() || rt->runq.size() != 0) {
    startm(rt, p, false);
    return;
  }
  // No work, and no M looking for any: become (start) the spinner, so work
  // submitted while we are blocked is picked up.
  std::int32_t zero = 0;
  if (rt->nmspinning.load(std::memory_order_seq_cst) + rt->npidle.load(std::memory_order_seq_cst) == 0 &&
      rt->nmspinning.compare_exchange_strong(zero, 1, std::memory_order_seq_cst)) {
    startm(rt, p, true);
    return;
  }
  std::unique_lock<mutex> l(rt->lock);
  if (rt->runq.size() != 0) {
    l.unlock();
    startm(rt, p, false);
    return;
  }
  pidleput(rt, p);
}

void reset_spinning(M* m) {
  runtime* rt = m->rt;
  m->spinning = false;
  if (rt->nmspinning.fetch_sub(1, std::memory_order_seq_cst) <= 0) fatal("reset_spinning", "negative nmspinning");
  // Rule 3: we found work; there may be more.
  wakep(rt);
}

void finish(runtime* rt) {
  std::lock_guard<mutex> l(rt->lock);
  finish_locked(rt);
}

void finish_locked(runtime* rt) {
  rt->done = true;
  M* idle = rt->midle;
  rt->midle = nullptr;
  rt->nmidle = 0;
  while (idle) {
    M* next = idle->link;  // read before waking: the M may exit at once
    idle->link = nullptr;
    idle->nextp = nullptr;
    idle->park.wakeup();
    idle = next;
  }
}

}  // namespace goro::rt
