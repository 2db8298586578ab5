// The scheduling loop: what an M does on its g0 stack between fibers.
// Go's schedule / findRunnable / execute / runqsteal, without GC, timers
// and the network poller (those hook into find_runnable when they arrive).
//
// A fiber that leaves records an m_action saying why (yield, park, exit,
// ...). The action is carried out *after* the switch, when the fiber's
// registers are saved: only then may the fiber be published to a queue
// where another M could resume it (Go's mcall). See handle_action. Usually
// the fiber switches straight to the next fiber of its P and the action runs
// on top of that fiber's stack (park.cpp, switch_to_fiber); when picking the
// next fiber needs more than the P's own queues, it switches to g0, which
// runs the loop below.
#include <time.h>

#include <mutex>

#include "debug/fatal.hpp"
#include "sched/retake.hpp"
#include "sched/sched.hpp"

namespace goro::rt {

namespace {

constexpr int steal_tries = 4;

// Fibers picked from runnext, from the continuation deque or by hand-off
// bypass the ring. Go lets them inherit the current 10 ms time slice and
// preempts when it ends; goro has no preemption yet, so a pair of fibers
// readying each other through runnext would starve every other fiber on the
// P forever. Instead, once such a streak has lasted a time slice, the
// ring's head goes first. The clock (coarse, a vDSO read) is looked at only
// every 64 picks.
constexpr std::int64_t time_slice_ns = 10'000'000;

std::int64_t coarse_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Count one more pick that bypassed the ring; true when the streak has used
// up its time slice (and then the streak starts over).
bool slice_expired(P* p) {
  if ((++p->streak & 63) != 0) return false;
  const std::int64_t now = coarse_now_ns();
  if (p->streak_start == 0) {
    p->streak_start = now;
    return false;
  }
  if (now - p->streak_start < time_slice_ns) return false;
  p->streak = 0;
  p->streak_start = 0;
  return true;
}

void ring_picked(P* p) {
  p->streak = 0;
  p->streak_start = 0;
}

// Take a batch from the global queue for P: at most len/procs + 1, at most
// `max` if nonzero, at most half a local queue. Returns one G to run; the
// rest go to p's local queue. Lock held.
G* globrunq_get(runtime* rt, P* p, std::int32_t max) {
  std::int32_t n = rt->runq.size();
  if (n == 0) return nullptr;
  n = std::min(n, n / rt->procs + 1);
  if (max > 0 && n > max) n = max;
  if (n > std::int32_t(run_queue<G>::capacity / 2)) n = run_queue<G>::capacity / 2;
  G* g = rt->runq.pop_front();
  while (--n > 0) {
    // The local queue has room: we only get here with it empty (or n == 1).
    p->runq.put(rt->runq.pop_front(), false, [](G**, std::uint32_t) {
      fatal("globrunq_get", "local run queue overflow while holding the sched lock");
    });
  }
  return g;
}

// Try to steal from every other P, in random order, steal_tries times; the
// last round may take a victim's runnext too.
G* steal_work(M* m) {
  runtime* rt = m->rt;
  P* p = m->p;
  const std::uint32_t n = static_cast<std::uint32_t>(rt->procs);
  for (int i = 0; i < steal_tries; i++) {
    const bool steal_next = i == steal_tries - 1;
    std::uint32_t pos = fastrand(m) % n;
    const std::uint32_t inc = rt->coprimes[fastrand(m) % rt->coprimes.size()];
    for (std::uint32_t k = 0; k < n; k++, pos = (pos + inc) % n) {
      P* victim = rt->allp[pos].get();
      if (victim == p) continue;
      if (G* g = p->runq.steal_from(victim->runq, steal_next)) return g;
      // Continuations, like runnext, only in the last round: their owner
      // is about to resume them, and moving them costs cache misses.
      if (steal_next) {
        if (G* g = victim->conts.steal()) return g;
      }
    }
  }
  return nullptr;
}

// Find a runnable G for m (which holds a P), or park m until there is one.
// Returns an empty result when the runtime is done.
// Run the due timers of every P (ours first). True if any fired.
bool run_all_timers(M* m) {
  runtime* rt = m->rt;
  if (next_timer(rt) == 0) return false;  // no clock read without timers
  const std::int64_t now = detail::now_ns();
  bool fired = run_timers(rt, m->p, now);
  for (auto& p : rt->allp)
    if (p.get() != m->p) fired = run_timers(rt, p.get(), now) || fired;
  return fired;
}

}  // namespace

bool timers_due(P* p) {
  const std::int64_t e = p->timers.earliest.load(std::memory_order_relaxed);
  return e != 0 && e <= detail::now_ns();
}

namespace {

// The next of the turns owed since a streak expired (see local_pick), or
// none once they are all taken (turns_owed is then false).
found owed_turn(runtime* rt, P* p) {
  G* g = nullptr;
  if (p->ring_turns > 0) {
    p->ring_turns--;
    g = p->runq.get_ring();
    if (g == nullptr) p->ring_turns = 0;  // thieves took the rest
  }
  if (g == nullptr && p->global_turns > 0) {
    // One at a time, straight from the global queue: a batch would land
    // behind the ring's Gs, which have had their turn.
    p->global_turns--;
    if (rt->runq.size() > 0) {
      std::lock_guard<mutex> l(rt->lock);
      g = globrunq_get(rt, p, 1);
    }
    if (g == nullptr) p->global_turns = 0;  // other Ps took the rest
  }
  if (g == nullptr) {
    p->turns_owed = false;  // the last turn: the oldest continuation's
    g = p->conts.steal();
  }
  if (g != nullptr) ring_picked(p);
  return {g, false};
}

}  // namespace

found local_pick(runtime* rt, P* p) {
  // Fairness: now and then look at the global queue first, so that two Gs
  // handing work back and forth on a local queue cannot starve it.
  if (p->schedtick % 61 == 0 && rt->runq.size() > 0) {
    std::lock_guard<mutex> l(rt->lock);
    if (G* g = globrunq_get(rt, p, 1)) return {g, false};
  }
  // runnext (inherits the time slice), then the most recent continuation
  // (depth first through a fork-join tree), then the ring; but see
  // time_slice_ns.
  if (p->streak_expired) {
    // The streak is over. Like Go's preempted goroutine, which goes to the
    // tail of the global queue, it now waits while every G queued at this
    // moment runs once: first those on our ring, then those on the global
    // queue (where our ring overflows to; the 1-in-61 check alone drains
    // it far too slowly behind a streak), then the oldest continuation (a
    // spawner that handed its P to its child). One turn per slice for the
    // ring's head alone let a spawning loop starve its own timer wake-ups.
    p->streak_expired = false;
    p->ring_turns = p->runq.ring_size();
    p->global_turns = static_cast<std::uint32_t>(rt->runq.size());
    p->turns_owed = true;
  }
  if (__builtin_expect(p->turns_owed, 0)) {
    if (found f = owed_turn(rt, p); f.g) return f;
  }
  if (G* g = p->runq.take_next()) {
    p->streak_expired = slice_expired(p);
    return {g, true};
  }
  if (G* g = p->conts.pop()) {
    p->streak_expired = slice_expired(p);
    return {g, false};
  }
  if (G* g = p->runq.get_ring()) {
    ring_picked(p);
    return {g, false};
  }
  return {};
}

namespace {

found find_runnable(M* m) {
  runtime* rt = m->rt;
top:
  P* p = m->p;
  // Our own due timers (they ready fibers onto our queue).
  if (const std::int64_t e = p->timers.earliest.load(std::memory_order_relaxed); e != 0) {
    const std::int64_t now = detail::now_ns();
    if (e <= now) run_timers(rt, p, now);
  }
  if (found f = local_pick(rt, p); f.g) return f;
  if (rt->runq.size() > 0) {
    std::lock_guard<mutex> l(rt->lock);
    if (G* g = globrunq_get(rt, p, 0)) return {g, false};
  }
  // Due timers of other Ps (their owners may be busy or idle).
  if (run_all_timers(m)) goto top;

  // Steal. Limit the number of spinning Ms to half the busy Ps: with more,
  // they burn CPU for nothing when parallelism is low.
  const std::int32_t busy = rt->procs - rt->npidle.load(std::memory_order_seq_cst);
  if (m->spinning || 2 * rt->nmspinning.load(std::memory_order_seq_cst) < busy) {
    if (!m->spinning) {
      m->spinning = true;
      rt->nmspinning.fetch_add(1, std::memory_order_seq_cst);  // see idle.cpp "spinning"
    }
    if (G* g = steal_work(m)) return {g, false};
  }

  // Nothing found: give up the P.
  {
    std::unique_lock<mutex> l(rt->lock);
    if (rt->runq.size() > 0) {
      G* g = globrunq_get(rt, p, 0);
      return {g, false};
    }
    pidleput(rt, releasep(m));
  }

  // "Delicate dance" (idle.cpp): having dropped spinning, look once more at
  // every P. A submitter that saw nmspinning > 0 did not wake anyone and is
  // relying on us.
  if (m->spinning) {
    m->spinning = false;
    if (rt->nmspinning.fetch_sub(1, std::memory_order_seq_cst) <= 0)
      fatal("find_runnable", "negative nmspinning");
    // (d) in idle.cpp's essay: the queue reads below must not move above
    // the decrement (StoreLoad); pairs with the fence in wakep.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // The global queue too: a thread outside the runtime (or a fiber
    // without a P) queues there and calls wakep, which trusts a spinner
    // it sees to find the work.
    bool global = rt->runq.size() > 0;
    for (auto& pp : rt->allp) {
      if (global || pp->has_work()) {
        P* np;
        {
          std::lock_guard<mutex> l(rt->lock);
          np = pidleget(rt);
        }
        if (np) {
          acquirep(m, np);
          m->spinning = true;
          rt->nmspinning.fetch_add(1, std::memory_order_seq_cst);
          goto top;
        }
        break;
      }
    }
  }

  if (!stopm(m)) return {};
  goto top;
}

}  // namespace

// Carry out what the fiber g asked for when it switched out. g's context
// is saved; from here on it may be handed to another M.
void handle_action(M* m, G* g) {
  runtime* rt = m->rt;
  const m_action a = m->action;
  m->action = m_action::none;
  // The fiber entered the runtime before switching (retake.hpp): sysmon
  // cannot take m->p (if still set) while we use it here.
  GORO_CHECK(m->in_rt.load(std::memory_order_relaxed), "fiber switched out without entering the runtime");
  // m->p is null when sysmon took the P while g ran: then g's next step
  // goes through the global queue and this M goes idle in schedule().
  switch (a) {
    case m_action::yield:
      casgstatus(g, gstatus::running, gstatus::runnable, "yield");
      if (m->p) {
        runq_put(m->p, g, false);
      } else {
        {
          std::lock_guard<mutex> l(rt->lock);
          globrunq_put(rt, g);
        }
        wakep(rt);
      }
      return;
    case m_action::park: {
      casgstatus(g, gstatus::running, gstatus::waiting, "park");
      g->waitsince = rt->coarse_now_ns.load(std::memory_order_relaxed);
      void (*unlock)(void*) = g->park_unlock;
      void* arg = g->park_arg;
      g->park_unlock = nullptr;
      g->park_arg = nullptr;
      // After this, g belongs to its wait queue: do not touch it again.
      if (unlock) unlock(arg);
      return;
    }
    case m_action::exit: {
      casgstatus(g, gstatus::running, gstatus::dead, "goexit");
      g->m = nullptr;
      gfput(rt, m->p, g);
      // acq_rel: the G that brings the count to zero sees every other G's
      // completion (each decremented after finishing its work).
      if (rt->live.fetch_sub(1, std::memory_order_acq_rel) == 1) finish(rt);
      return;
    }
    case m_action::blocking_exit:
    case m_action::rejoin: {
      // g returned from goro::blocking (or found that sysmon took its P,
      // park.cpp rejoin) and found no idle P. It waits on the global queue;
      // this M, with no P, goes idle.
      casgstatus(g, a == m_action::rejoin ? gstatus::running : gstatus::syscall, gstatus::runnable, "exit_blocking");
      g->m = nullptr;
      std::lock_guard<mutex> l(rt->lock);
      if (P* p = pidleget(rt)) {
        acquirep(m, p);
        m->p->runq.put(g, true, [](G**, std::uint32_t) { fatal("exit_blocking", "runnext put overflowed"); });
      } else {
        globrunq_put(rt, g);
      }
      return;
    }
    case m_action::handoff:
      // g spawned a fiber while its P had a backlog (spawn.cpp) and
      // switched straight to it; g waits on the P's continuation deque,
      // where a thief may take it.
      casgstatus(g, gstatus::running, gstatus::runnable, "handoff");
      GORO_CHECK(m->p != nullptr, "spawn hand-off without a P");
      if (!m->p->conts.push(g)) runq_put(m->p, g, false);
      return;
    case m_action::none:
      break;
  }
  fatal("handle_action", "fiber switched out without an action");
}

void start_running(M* m, G* g, bool inherit_time) {
  P* p = m->p;
  if (!inherit_time) p->schedtick++;
  // Owner-only counter: a plain increment, atomic only for sysmon's reads.
  p->switchtick.store(p->switchtick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  casgstatus(g, gstatus::runnable, gstatus::running, "execute");
  g->m = m;
  m->curg = g;
  // A new slice: no preemption request. (relaxed: a hint.)
  if (p->preempt.load(std::memory_order_relaxed)) p->preempt.store(false, std::memory_order_relaxed);
}

namespace {

// Run g on m until a fiber switches back to g0, and carry out what that
// fiber asked for.
void execute(M* m, G* g, bool inherit_time) {
  start_running(m, g, inherit_time);
  // From here until g calls into the runtime again, sysmon may take p.
  leave_runtime(m);
  transfer_t t = switch_context(g->ctx, m);  // g0 has no thread state to carry
  // Only the fiber running on this M can switch to this M's g0; that is
  // g, or a fiber g (or its successors) switched to directly.
  G* cur = m->curg;
  cur->ctx.fctx = t.fctx;
  m->curg = nullptr;
  handle_action(m, cur);
}

}  // namespace

void runq_put(P* p, G* g, bool next) {
  p->runq.put(g, next, [p](G** batch, std::uint32_t n) {
    runtime* rt = p->m->rt;
    for (std::uint32_t i = 0; i + 1 < n; i++) batch[i]->schedlink = batch[i + 1];
    std::lock_guard<mutex> l(rt->lock);
    rt->runq.push_back_batch(batch[0], batch[n - 1], static_cast<std::int32_t>(n));
  });
}

void globrunq_put(runtime* rt, G* g) { rt->runq.push_back(g); }

void schedule(M* m) {
  for (;;) {
    // An M comes back from a blocking call without a P (handle_action's
    // blocking_exit); it waits to be given one.
    if (m->p == nullptr && !stopm(m)) return;
    found f = find_runnable(m);
    if (!f.g) return;
    // This M found work: if it was spinning, stop, and wake another spinner
    // in case there is more (Go's resetspinning).
    if (m->spinning) reset_spinning(m);
    execute(m, f.g, f.inherit_time);
  }
}

}  // namespace goro::rt
