// Idle Ps and Ms, and the spinning protocol (the essay is in idle.hpp).
#include "sched/idle.hpp"

#include <mutex>
#include <thread>

#include "debug/checkdead.hpp"
#include "debug/fatal.hpp"
#include "os/clock.hpp"
#include "sched/leftover.hpp"
#include "sched/m.hpp"
#include "sched/proc.hpp"
#include "sched/retake.hpp"
#include "sched/runtime.hpp"
#include "sched/sysmon.hpp"
#include "poll/netpoll.hpp"
#include "time/timers.hpp"

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

// The timed sleeper's sleep while the runtime has open descriptors: in
// epoll_wait until `until` (0: no timer), readying whatever becomes ready.
// Returns true when the note was woken (someone took m off the idle list).
// A waker sets the note, then reads `polling` (wake_m); we set `polling`,
// then read the note: with the seq_cst fences between, one of us sees the
// other, so a wake-up never waits for the poll's timeout.
//
// One M at a time blocks in epoll_wait (poller::blocked): the break is
// coalesced and drained by the blocked poller, so a second one could drain
// the break meant for the first, or skip writing it while the first's is
// pending, and sleep forever. The M that held the role before us lost it
// (someone woke it, with a break), so it is on its way out: wait for it.
bool poll_sleep(M* m, std::int64_t until) {
  runtime* rt = m->rt;
  // acquire: the previous blocker's drain (and its break_pending store)
  // happen before our poll.
  while (rt->poll.blocked.exchange(true, std::memory_order_acquire)) std::this_thread::yield();
  m->polling.store(true, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!m->park.signalled()) netpoll(rt, until != 0 ? until : INT64_MAX);
  m->polling.store(false, std::memory_order_relaxed);
  rt->poll.blocked.store(false, std::memory_order_release);
  return m->park.signalled();
}

// nmspinning has just become `now`: keep its peak (runtime::nmspinning_peak).
void note_spinners(runtime* rt, std::int32_t now) {
  std::int32_t peak = rt->nmspinning_peak.load(std::memory_order_relaxed);
  while (peak < now && !rt->nmspinning_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

// One more spinner, if fewer than `limit` (the spinning_limit knob) spin.
// A CAS, so that the bound holds exactly (Go's rule is a racy bound).
bool claim_spinner(runtime* rt, std::int32_t limit) {
  std::int32_t n = rt->nmspinning.load(std::memory_order_seq_cst);
  do {
    if (n >= limit) return false;
  } while (!rt->nmspinning.compare_exchange_weak(n, n + 1, std::memory_order_seq_cst));
  note_spinners(rt, n + 1);
  return true;
}

}  // namespace

void wake_m(M* m) noexcept {
  runtime* rt = m->rt;  // before the wake-up: m may leave at once (it stays allocated)
  m->park.wakeup();
  std::atomic_thread_fence(std::memory_order_seq_cst);  // see poll_sleep
  if (m->polling.load(std::memory_order_relaxed)) netpoll_break(rt);
}

void netpoll_kick(runtime* rt) {
  std::unique_lock<futex_lock> l(rt->lock);
  if (M* s = rt->timed_sleeper) {
    if (s->poll_role || !mremove(rt, s)) return;  // polling already, or being woken
    rt->timed_sleeper = nullptr;
    rt->sleep_until.store(INT64_MAX, std::memory_order_relaxed);
    s->retime = true;
    l.unlock();
    s->park.wakeup();  // not polling: its note is all there is to wake
    return;
  }
  l.unlock();
  wakep(rt);  // the M it starts finds nothing and idles as the poller
}

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

void pidleput(runtime* rt, P* p, pstatus from) {
  GORO_CHECK(!p->has_work(), "P with runnable fibers put on the idle list");
  caspstatus(p, from, pstatus::idle, "pidleput");
  p->link = rt->pidle;
  rt->pidle = p;
  rt->npidle.fetch_add(1, std::memory_order_seq_cst);  // (c) in the essay above
}

void pidle_init(runtime* rt) {
  for (std::int32_t i = rt->procs - 1; i >= 0; i--) {
    P* p = rt->allp[static_cast<std::size_t>(i)].get();
    GORO_CHECK(p->status.load(std::memory_order_relaxed) == pstatus::idle, "a new P is not idle");
    p->link = rt->pidle;
    rt->pidle = p;
    rt->npidle.fetch_add(1, std::memory_order_relaxed);  // before any other thread exists
  }
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

void wakep(runtime* rt) {
  // (b) in the essay: order our queue publication before these loads.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (rt->npidle.load(std::memory_order_seq_cst) == 0) return;
  if (__builtin_expect(rt->knobs.spinning_limit == 0, 0)) {
    // No spinning Ms (the knob): nobody is out looking, so wake an M to
    // look, once, on an idle P.
    startm(rt, nullptr, false);
    return;
  }
  // One spinner at a time is enough (rule 1); claim the slot by CAS.
  std::int32_t zero = 0;
  if (rt->nmspinning.load(std::memory_order_seq_cst) != 0 ||
      !rt->nmspinning.compare_exchange_strong(zero, 1, std::memory_order_seq_cst))
    return;
  note_spinners(rt, 1);
  startm(rt, nullptr, true);
}

void startm(runtime* rt, P* p, bool spinning) {
  std::unique_lock<futex_lock> l(rt->lock);
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
  // m is off the idle list: nobody else touches it until it wakes.
  casmstatus(m, mstatus::idle, spinning ? mstatus::spinning : mstatus::running, "startm");
  m->nextp = p;
  wake_m(m);  // release: m reads its state and nextp after waking
}

void start_unwind_locked(runtime* rt) {
  // Every M is idle, so every P is too (an M in a blocking call is not
  // idle; sysmon_taking covers a P in transit).
  P* p = pidleget(rt);
  M* m = mget(rt);
  if (p == nullptr || m == nullptr) fatal("start_unwind_locked", "every M idle, yet no idle M and P");
  // As startm: m is off the idle list, so nobody else touches it until it
  // wakes; the note's release orders these writes before its reads.
  casmstatus(m, mstatus::idle, mstatus::running, "start_unwind_locked");
  m->nextp = p;
  m->unwind = true;
  wake_m(m);
}

bool stopm(M* m) {
  runtime* rt = m->rt;
  GORO_CHECK(m->p == nullptr, "stopm with a P");
  const bool spare = m->status.load(std::memory_order_relaxed) == mstatus::spare;
  casmstatus(m, spare ? mstatus::spare : mstatus::running, mstatus::idle, "stopm");
  bool arrived = !spare;  // a spare stops counting in spares_coming once listed
  bool may_time = true;
  for (;;) {
    // One idle M (the timed sleeper) sleeps until the earliest timer, in
    // epoll_wait while the runtime has open descriptors (poll/netpoll.hpp); the
    // others until someone needs them.
    std::int64_t until = 0;
    bool poll = false;
    {
      std::lock_guard<futex_lock> l(rt->lock);
      if (rt->done) return false;
      mput(rt, m);
      if (!arrived) {
        arrived = true;
        rt->spares_coming--;
      }
      checkdead(rt);
      if (may_time && !rt->done) {
        // Pairs with the fence in timer_start: we read `earliest` after
        // publishing ourselves, it publishes before reading ours. The first
        // descriptor is announced under the sched lock (netpoll_kick).
        std::atomic_thread_fence(std::memory_order_seq_cst);
        const bool want_poll = netpoll_wanted(rt->poll);
        // Descriptors are open, and the timed sleeper sleeps on its note:
        // take over its role so that someone polls.
        if (M* s = rt->timed_sleeper; s != nullptr && want_poll && !s->poll_role && mremove(rt, s)) {
          rt->timed_sleeper = nullptr;
          rt->sleep_until.store(INT64_MAX, std::memory_order_relaxed);
          s->retime = true;
          s->park.wakeup();  // not polling: its note is all there is to wake
        }
        if (rt->timed_sleeper == nullptr) {
          until = next_timer(rt);
          poll = want_poll;
          if (until != 0 || poll) {
            rt->timed_sleeper = m;
            m->poll_role = poll;
            rt->sleep_until.store(until != 0 ? until : INT64_MAX, std::memory_order_relaxed);
          }
        }
      }
    }
    bool woken = true;
    if (poll) {
      woken = poll_sleep(m, until);
    } else if (until != 0) {
      woken = m->park.sleep_for(until - now_ns());
    } else {
      m->park.sleep();
    }
    if (!woken) {
      // Timed out, or the poll returned (events, a break). Still on the
      // idle list, unless startm, finish or a timer_start wanting an
      // earlier wake-up took us off it (then their wake-up is on its way).
      std::unique_lock<futex_lock> l(rt->lock);
      if (rt->timed_sleeper == m) {
        rt->timed_sleeper = nullptr;
        rt->sleep_until.store(INT64_MAX, std::memory_order_relaxed);
      }
      m->poll_role = false;
      if (mremove(rt, m)) {
        if (rt->done) return false;
        // Get a P: find_runnable then runs the due timers of every P (and
        // the fibers the poll readied onto the global queue).
        if (P* p = pidleget(rt)) {
          l.unlock();
          casmstatus(m, mstatus::idle, mstatus::running, "stopm");
          acquirep(m, p);
          return true;
        }
        // Every P is busy: their Ms run their timers and poll when they
        // look for work (sysmon polls if they never do). Sleep untimed.
        may_time = false;
        continue;
      }
      l.unlock();
      m->park.sleep();
    } else if (until != 0 || poll) {
      // Woken before the deadline (by whoever took us off the idle list).
      std::lock_guard<futex_lock> l(rt->lock);
      if (rt->timed_sleeper == m) {
        rt->timed_sleeper = nullptr;
        rt->sleep_until.store(INT64_MAX, std::memory_order_relaxed);
      }
      m->poll_role = false;
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
    if (m->unwind) {
      // On g0, with a P, outside the sched lock (ready() takes it).
      m->unwind = false;
      unwind_leftovers(rt);
    }
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
  // submitted while we are blocked is picked up. (Without spinning Ms, the
  // knob, the P goes idle: wakep then wakes an M for any new work.)
  std::int32_t zero = 0;
  if (rt->knobs.spinning_limit != 0 &&
      rt->nmspinning.load(std::memory_order_seq_cst) + rt->npidle.load(std::memory_order_seq_cst) == 0 &&
      rt->nmspinning.compare_exchange_strong(zero, 1, std::memory_order_seq_cst)) {
    note_spinners(rt, 1);
    startm(rt, p, true);
    return;
  }
  std::unique_lock<futex_lock> l(rt->lock);
  if (rt->runq.size() != 0) {
    l.unlock();
    startm(rt, p, false);
    return;
  }
  pidleput(rt, p, pstatus::taken);
}

void reset_spinning(M* m) {
  runtime* rt = m->rt;
  casmstatus(m, mstatus::spinning, mstatus::running, "reset_spinning");
  if (rt->nmspinning.fetch_sub(1, std::memory_order_seq_cst) <= 0) fatal("reset_spinning", "negative nmspinning");
  // Rule 3: we found work; there may be more.
  wakep(rt);
}

bool may_steal(M* m) {
  runtime* rt = m->rt;
  const std::int32_t limit = rt->knobs.spinning_limit;
  if (limit == 0) return true;  // nobody spins: look once, uncounted
  if (limit > 0) {
    if (!claim_spinner(rt, limit)) return false;
    casmstatus(m, mstatus::running, mstatus::spinning, "find_runnable");
    return true;
  }
  // Go's rule 2: fewer spinners than half the busy Ps. With more, they burn
  // CPU for nothing when parallelism is low.
  const std::int32_t busy = rt->procs - rt->npidle.load(std::memory_order_seq_cst);
  if (2 * rt->nmspinning.load(std::memory_order_seq_cst) >= busy) return false;
  casmstatus(m, mstatus::running, mstatus::spinning, "find_runnable");
  note_spinners(rt, rt->nmspinning.fetch_add(1, std::memory_order_seq_cst) + 1);  // see "spinning" above
  return true;
}

void respin(M* m) {
  runtime* rt = m->rt;
  const std::int32_t limit = rt->knobs.spinning_limit;
  if (limit == 0) return;
  if (limit > 0) {
    if (!claim_spinner(rt, limit)) return;  // the spinners counted will find the work
    casmstatus(m, mstatus::running, mstatus::spinning, "find_runnable");
    return;
  }
  casmstatus(m, mstatus::running, mstatus::spinning, "find_runnable");
  note_spinners(rt, rt->nmspinning.fetch_add(1, std::memory_order_seq_cst) + 1);
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
    wake_m(idle);
    idle = next;
  }
  // Ms asleep for a locked fiber (a deadlock in throw mode), and m0
  // retired: the wake-up that answers their sleep (sched/lockedm.hpp).
  for (auto& m : rt->allm) {
    if (!m->lockwait) continue;
    m->lockwait = false;
    rt->nmidlelocked--;
    m->park.wakeup();
  }
}

}  // namespace goro::rt
