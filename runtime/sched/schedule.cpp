// The scheduling loop: what an M does on its g0 stack between fibers (Go's
// schedule / findRunnable / runqsteal). find_runnable is where the other
// sources of work plug in: the P's own queues (fairness.cpp), the global
// queue, timers (time/timers.cpp), the network poller (poll/netpoll.cpp)
// and stealing.
//
// A fiber that leaves records an m_action saying why (yield, park, exit,
// ...). The action is carried out *after* the switch, when the fiber's
// registers are saved: only then may the fiber be published to a queue
// where another M could resume it (Go's mcall). See handle_action. Usually
// the fiber switches straight to the next fiber of its P and the action runs
// on top of that fiber's stack (switch.cpp, switch_to_fiber); when picking
// the next fiber needs more than the P's own queues, it switches to g0,
// which runs the loop below.
#include "sched/schedule.hpp"

#include <algorithm>
#include <mutex>

#include "debug/fatal.hpp"
#include "os/clock.hpp"
#include "sched/fairness.hpp"
#include "sched/g.hpp"
#include "sched/idle.hpp"
#include "sched/lockedm.hpp"
#include "sched/m.hpp"
#include "sched/p.hpp"
#include "sched/random.hpp"
#include "sched/retake.hpp"
#include "sched/runtime.hpp"
#include "sched/spawn.hpp"
#include "sched/switch.hpp"
#include "time/timers.hpp"
#include "trace/trace.hpp"
#include "poll/netpoll.hpp"

namespace goro::rt {

namespace {

constexpr int steal_tries = 4;

// Try to steal from every other P, in random order, steal_tries times; the
// last round may take a victim's runnext too. Half a victim's ring at a
// time, or its oldest fiber alone (the steal_amount knob).
G* steal_work(M* m) {
  runtime* rt = m->rt;
  P* p = m->p;
  const std::uint32_t n = static_cast<std::uint32_t>(rt->procs);
  for (int i = 0; i < steal_tries; i++) {
    const bool steal_next = i == steal_tries - 1 || randomize_steal_next(m);
    std::uint32_t pos = m->rng.next() % n;
    const std::uint32_t inc = rt->coprimes[m->rng.next() % rt->coprimes.size()];
    for (std::uint32_t k = 0; k < n; k++, pos = (pos + inc) % n) {
      P* victim = rt->allp[pos].get();
      if (victim == p) continue;
      G* g = p->runq.steal_from(victim->runq, steal_next, p->knobs.steal_one);
      // Continuations, like runnext, only in the last round: their owner
      // is about to resume them, and moving them costs cache misses.
      if (g == nullptr && steal_next) g = victim->conts.steal();
      if (g != nullptr) {
        if (trace::enabled()) trace::stolen(m, g, victim->id);
        bump(p->ctr.steals);
        // relaxed: a count; thieves race for it, hence the RMW.
        victim->ctr.steals_suffered.fetch_add(1, std::memory_order_relaxed);
        return g;
      }
    }
  }
  return nullptr;
}

// Slots free in p's local ring, for the timers this M may fire onto it
// (run_timers); at least one. A full ring still fires one timer per look
// (every switch looks when timers are due), overflowing as any ready does:
// fibers that keep yielding can keep the ring full for good, and must not
// starve the timers.
std::size_t runq_room(P* p) {
  const std::uint32_t used = p->runq.ring_size();
  return used < runq_capacity ? runq_capacity - used : 1;
}

// Fire p's due timers onto m's P (as many as its ring has room for), with
// one wakep for the whole batch (see M::batching_readies).
bool fire_timers(M* m, P* p, std::int64_t now) {
  const trace::source_scope from_timers(trace::from::timer);
  m->batching_readies = true;
  const bool fired = run_timers(p, now, runq_room(m->p));
  m->batching_readies = false;
  if (m->batched_ready) {
    m->batched_ready = false;
    wakep(m->rt);
  }
  return fired;
}

// Run the due timers of every P (ours first). True if any fired.
bool run_all_timers(M* m) {
  runtime* rt = m->rt;
  if (next_timer(rt) == 0) return false;  // no clock read without timers
  const std::int64_t now = now_ns();
  bool fired = fire_timers(m, m->p, now);
  for (auto& p : rt->allp)
    if (p.get() != m->p) fired = fire_timers(m, p.get(), now) || fired;
  return fired;
}

// A non-blocking poll of the network (netpoll.hpp) before stealing: the
// parties it wakes go onto m's P, with one wakep for the batch. Skipped
// when the runtime has no open descriptor, or an M is blocked in epoll_wait
// (it gets the events). True if it woke any.
bool poll_network(M* m) {
  runtime* rt = m->rt;
  if (!netpoll_wanted(rt->poll) || rt->poll.blocked.load(std::memory_order_relaxed)) return false;
  m->batching_readies = true;
  const int n = netpoll(rt, 0);
  m->batching_readies = false;
  if (m->batched_ready) {
    m->batched_ready = false;
    wakep(rt);
  }
  return n > 0;
}

// Find a runnable G for m (which holds a P), or park m until there is one.
// Returns an empty result when the runtime is done.
found find_runnable(M* m) {
  runtime* rt = m->rt;
top:
  P* p = m->p;
  // Our own due timers (they ready fibers onto our queue).
  if (const std::int64_t e = p->timers.earliest.load(std::memory_order_relaxed); e != 0) {
    const std::int64_t now = now_ns();
    if (e <= now) fire_timers(m, p, now);
  }
  if (found f = local_pick(rt, p); f.g) return f;
  if (rt->runq.size() > 0) {
    std::lock_guard<futex_lock> l(rt->lock);
    if (G* g = globrunq_get(rt, p, 0)) return {g, false};
  }
  // Due timers of other Ps (their owners may be busy or idle).
  if (run_all_timers(m)) goto top;
  if (poll_network(m)) goto top;

  // Steal (unless the steal knob is off), spinning if the spinning rules
  // let us (idle.hpp, may_steal).
  if (rt->knobs.steal && (m->spinning() || may_steal(m))) {
    if (G* g = steal_work(m)) return {g, false};
  }

  // Nothing found: give up the P.
  {
    std::unique_lock<futex_lock> l(rt->lock);
    if (rt->runq.size() > 0) {
      G* g = globrunq_get(rt, p, 0);
      return {g, false};
    }
    pidleput(rt, releasep(m), pstatus::running);
  }

  // "Delicate dance" (idle.hpp): having dropped spinning, look once more at
  // every P. A submitter that saw nmspinning > 0 did not wake anyone and is
  // relying on us. Without spinning Ms (the spinning_limit knob at 0) every
  // M does it: a submitter that saw no idle P did not wake anyone either.
  const bool spun = m->spinning();
  if (spun || rt->knobs.spinning_limit == 0) {
    if (spun) {
      casmstatus(m, mstatus::spinning, mstatus::running, "find_runnable");
      if (rt->nmspinning.fetch_sub(1, std::memory_order_seq_cst) <= 0)
        fatal("find_runnable", "negative nmspinning");
    }
    // (d) in idle.hpp's essay: the queue reads below must not move above
    // the decrement (StoreLoad), or pidleput's increment of npidle;
    // pairs with the fence in wakep.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // The global queue too: a thread outside the runtime (or a fiber
    // without a P) queues there and calls wakep, which trusts a spinner
    // it sees to find the work.
    bool global = rt->runq.size() > 0;
    for (auto& pp : rt->allp) {
      // Without stealing (the steal knob off) another P's queue is its
      // holder's alone: only the global queue brings us back.
      if (global || (rt->knobs.steal && pp->has_work())) {
        P* np;
        {
          std::lock_guard<futex_lock> l(rt->lock);
          np = pidleget(rt);
        }
        if (np) {
          acquirep(m, np);
          respin(m);
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

bool timers_due(P* p) {
  const std::int64_t e = p->timers.earliest.load(std::memory_order_relaxed);
  return e != 0 && e <= now_ns();
}

G* globrunq_get(runtime* rt, P* p, std::int32_t max) {
  std::int32_t n = rt->runq.size();
  if (n == 0) return nullptr;
  n = std::min(n, n / rt->procs + 1);
  if (max > 0 && n > max) n = max;
  if (n > std::int32_t(runq_capacity / 2)) n = runq_capacity / 2;
  bump(p->ctr.global_pulls, static_cast<std::uint64_t>(n));
  G* g = rt->runq.pop_front();
  while (--n > 0) {
    // The local queue has room: we only get here with it empty (or n == 1).
    p->runq.put(rt->runq.pop_front(), false, [](G**, std::uint32_t) {
      fatal("globrunq_get", "local run queue overflow while holding the sched lock");
    });
  }
  return g;
}

void globrunq_put(runtime* rt, G* g) { rt->runq.push_back(g); }

namespace {

void runq_put_local(P* p, G* g, bool next) {
  p->runq.put(g, next, [p](G** batch, std::uint32_t n) {
    runtime* rt = p->m->rt;
    for (std::uint32_t i = 0; i + 1 < n; i++) batch[i]->schedlink = batch[i + 1];
    {
      std::lock_guard<futex_lock> l(rt->lock);
      rt->runq.push_back_batch(batch[0], batch[n - 1], static_cast<std::int32_t>(n));
    }
    // Work for every P now. With the steal knob off, the callers wake
    // nobody for work on a local queue, so wake someone for this.
    if (!p->knobs.steal) wakep(rt);
  });
}

}  // namespace

void runq_put(P* p, G* g, bool next) {
  // The runnext knob off: every G joins the ring's tail (FIFO).
  if (next && (!p->knobs.runnext || randomize_runnext_off(p))) next = false;
  runq_put_local(p, g, next);
}

void runq_unpick(P* p, G* g) {
  // Whatever the runnext knob says: at the ring's tail, g could come back
  // to pick_direct every time and never reach g0 (a locked fiber would
  // never be handed over). The coin of a randomised build may still send
  // it to the tail; it comes back to runnext at a later toss.
  runq_put_local(p, g, !randomize_runnext_off(p));
}

// Carry out what the fiber g asked for when it switched out. g's context
// is saved; from here on it may be handed to another M.
void handle_action(M* m, G* g) {
  runtime* rt = m->rt;
  if (trace::enabled()) trace::run_end(m, g);  // reads m->action
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
      // To our ring's tail (Tokio defers a yielder to its local queue the
      // same way; Go puts it on the global queue). With more yielders than
      // the ring holds, those that overflowed to the global queue get a turn
      // every 61st pick, so fairness is bounded but not round-robin
      // (docs/design.md, "Fairness").
      if (m->p) {
        runq_put(m->p, g, false);
      } else {
        {
          std::lock_guard<futex_lock> l(rt->lock);
          globrunq_put(rt, g);
        }
        wakep(rt);
      }
      return;
    case m_action::park: {
      casgstatus(g, gstatus::running, gstatus::waiting, "park");
      g->waitsince.store(rt->sysmon_clock_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
      if (m->p) bump(m->p->ctr.parks);
      void (*unlock)(void*) = g->park_unlock;
      void* arg = g->park_arg;
      g->park_unlock = nullptr;
      g->park_arg = nullptr;
      // After this, g belongs to its wait list: do not touch it again.
      if (unlock) unlock(arg);
      return;
    }
    case m_action::exit: {
      casgstatus(g, gstatus::running, gstatus::dead, "goexit");
      g->m = nullptr;
      gfput(rt, m->p, g);
      // No check for zero here: the count is exact only once every P is
      // idle, and the M that ends the last fiber gets there (it finds no
      // work, idles its P and, the last M to go idle, runs checkdead, which
      // finishes the runtime). The sched lock each P went idle under orders
      // every fiber's work before run() returns.
      if (P* p = m->p) {
        p->live.store(p->live.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);  // the holder's
      } else {
        rt->live.fetch_sub(1, std::memory_order_relaxed);
      }
      return;
    }
    case m_action::blocking_exit:
    case m_action::rejoin: {
      // g returned from goro::blocking (or found that sysmon took its P,
      // syscall.cpp rejoin) and found no idle P. It waits on the global
      // queue; this M, with no P, goes idle.
      if (a == m_action::rejoin) {
        casgstatus(g, gstatus::running, gstatus::runnable, "rejoin");
      } else {
        casgstatus(g, gstatus::syscall, gstatus::runnable, "exit_blocking");
      }
      g->m = nullptr;
      if (g->lockedm != nullptr) {
        locked_rejoin(m, g);  // to this same M, with a P (sched/lockedm.hpp)
        return;
      }
      std::lock_guard<futex_lock> l(rt->lock);
      if (P* p = pidleget(rt)) {
        acquirep(m, p);
        // The P was idle, so its queues are empty: no overflow, which would
        // take the sched lock we hold.
        m->p->runq.put(g, m->p->knobs.runnext, [](G**, std::uint32_t) { fatal("exit_blocking", "runnext put overflowed"); });
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
  if (!inherit_time) p->fair.schedtick++;
  // Owner-only counter: a plain increment, atomic only for sysmon's reads.
  bump(p->switchtick);
  if (g->fresh) bump(p->ctr.started);
  casgstatus(g, gstatus::runnable, gstatus::running, "execute");
  g->m = m;
  m->curg = g;
  // A new slice: no preemption request. (relaxed: a hint.)
  if (p->preempt.load(std::memory_order_relaxed)) p->preempt.store(false, std::memory_order_relaxed);
  if (trace::enabled()) trace::run_begin(m, g);
}

void schedule(M* m) {
  for (;;) {
    if (__builtin_expect(m->lockedg != nullptr || m->retire, 0)) {
      // This M belongs to one fiber (lock_os_thread): it runs that fiber
      // or nothing (sched/lockedm.hpp).
      if (m->retire) {
        mretire(m);
        return;
      }
      G* lg = m->lockedg;
      if (!stoplockedm(m)) return;
      execute(m, lg, false);
      continue;
    }
    // An M comes back from a blocking call without a P (handle_action's
    // blocking_exit); it waits to be given one.
    if (m->p == nullptr && !stopm(m)) return;
    found f = find_runnable(m);
    if (!f.g) return;
    // This M found work: if it was spinning, stop, and wake another spinner
    // in case there is more (Go's resetspinning).
    if (m->spinning()) reset_spinning(m);
    if (__builtin_expect(f.g->lockedm != nullptr, 0)) {
      // Locked to another M: hand it over with our P; we go idle.
      startlockedm(m, f.g);
      continue;
    }
    execute(m, f.g, f.inherit_time);
  }
}

}  // namespace goro::rt
