// Timers: a 4-ary min-heap per P (Go's per-P timer heaps, Go 1.14+).
//
// A timer goes into the heap of the P its starter runs on and stays there
// until it fires or is stopped (timers are run, never moved, by other Ps).
// Each heap has a lock; `fire` callbacks run under it, so timer_stop, which
// takes the same lock, returns only when the callback is not running and
// can no longer run. Callbacks therefore must not block; they ready fibers
// or try_send on channels.
//
// Who runs due timers: the P's own M at the top of find_runnable; any M
// looking for work (all Ps' heaps) before it steals or goes idle; the last
// idle M, which sleeps until the earliest timer (idle.cpp, stopm); and
// sysmon hands the P of a long-running fiber on when its timers are overdue.
#include <time.h>

#include <climits>
#include <mutex>
#include <stdexcept>

#include "debug/fatal.hpp"
#include "sched/sched.hpp"

namespace goro::rt {

namespace {

using detail::timer_node;
using heap_t = P::timer_heap;

inline P* heap_owner(const timer_node* t) noexcept { return static_cast<P*>(t->heap.load(std::memory_order_acquire)); }

void set_at(heap_t& th, std::size_t i, timer_node* t) noexcept {
  th.h[i] = t;
  t->index = static_cast<std::int32_t>(i);
}

void sift_up(heap_t& th, std::size_t i) noexcept {
  timer_node* t = th.h[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / 4;
    if (th.h[parent]->when <= t->when) break;
    set_at(th, i, th.h[parent]);
    i = parent;
  }
  set_at(th, i, t);
}

void sift_down(heap_t& th, std::size_t i) noexcept {
  const std::size_t n = th.h.size();
  timer_node* t = th.h[i];
  for (;;) {
    const std::size_t first = 4 * i + 1;
    if (first >= n) break;
    std::size_t best = first;
    const std::size_t last = first + 4 < n ? first + 4 : n;
    for (std::size_t c = first + 1; c < last; c++)
      if (th.h[c]->when < th.h[best]->when) best = c;
    if (t->when <= th.h[best]->when) break;
    set_at(th, i, th.h[best]);
    i = best;
  }
  set_at(th, i, t);
}

void update_earliest(heap_t& th) noexcept {
  // relaxed: a hint for lock-free readers; they re-check under the lock.
  th.earliest.store(th.h.empty() ? 0 : th.h[0]->when, std::memory_order_relaxed);
}

void push(heap_t& th, P* p, timer_node* t) {
  th.h.push_back(t);
  sift_up(th, th.h.size() - 1);
  t->home.store(p, std::memory_order_relaxed);  // read by timer_stop after acquiring `heap`
  t->heap.store(p, std::memory_order_release);
}

void remove_at(heap_t& th, std::size_t i) noexcept {
  timer_node* t = th.h[i];
  timer_node* last = th.h.back();
  th.h.pop_back();
  if (i < th.h.size()) {
    set_at(th, i, last);
    sift_down(th, i);
    sift_up(th, static_cast<std::size_t>(last->index));
  }
  t->index = -1;
  t->heap.store(nullptr, std::memory_order_release);
}

}  // namespace

bool run_timers(runtime* rt, P* p, std::int64_t now) {
  (void)rt;
  heap_t& th = p->timers;
  const std::int64_t e = th.earliest.load(std::memory_order_relaxed);
  if (e == 0 || e > now) return false;
  bool fired = false;
  std::lock_guard<mutex> l(th.lock);
  while (!th.h.empty() && th.h[0]->when <= now) {
    timer_node* t = th.h[0];
    if (t->period > 0) {
      // Re-arm first (fire may not outlive the timer otherwise): skip the
      // periods already missed, like Go's ticker.
      t->when += t->period * (1 + (now - t->when) / t->period);
      sift_down(th, 0);
    } else {
      remove_at(th, 0);
    }
    fired = true;
    t->fire(t, now);  // a one-shot may free t in here
  }
  update_earliest(th);
  return fired;
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
    heap_t& th = p->timers;
    std::lock_guard<mutex> l(th.lock);
    for (timer_node* t : th.h) {
      t->index = -1;
      t->heap.store(nullptr, std::memory_order_release);
      if (t->drop) t->drop(t);
    }
    th.h.clear();
    update_earliest(th);
  }
}

}  // namespace goro::rt

namespace goro::detail {

using namespace goro::rt;

std::int64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // what std::chrono::steady_clock reads
  return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void timer_start(timer_node* t) {
  M* m = current_m();
  if (m == nullptr) throw std::logic_error("goro: timers need a goro runtime (call from a fiber)");
  runtime* rt = m->rt;
  // The heap is locked, so whether we own m->p does not matter: any heap
  // will do; ours is the likeliest to be checked soon.
  P* p = m->p ? m->p : rt->allp[0].get();
  GORO_CHECK(t->heap.load(std::memory_order_relaxed) == nullptr, "timer started twice");
  bool first;
  const std::int64_t when = t->when;  // t may fire (and be freed) once the lock is released
  {
    std::lock_guard<mutex> l(p->timers.lock);
    push(p->timers, p, t);
    first = p->timers.h[0] == t;
    update_earliest(p->timers);
  }
  // An idle M sleeps until the earliest timer: if this one is earlier, wake
  // it to sleep less. seq_cst fence: our `earliest` store above and the
  // idle M's sleep_until store (then its read of `earliest`) must not both
  // be missed (store-buffer pattern); stopm has the matching fence.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (first && when < rt->sleep_until.load(std::memory_order_relaxed)) {
    std::unique_lock<mutex> l(rt->lock);
    M* s = rt->timed_sleeper;
    if (s != nullptr && when < rt->sleep_until.load(std::memory_order_relaxed) && mremove(rt, s)) {
      rt->timed_sleeper = nullptr;
      rt->sleep_until.store(INT64_MAX, std::memory_order_relaxed);
      s->retime = true;
      l.unlock();
      s->park.wakeup();
    }
  }
}

bool timer_stop(timer_node* t) noexcept {
  for (;;) {
    P* p = heap_owner(t);
    if (p == nullptr) {
      // Not pending. A one-shot leaves its heap just before it fires, so its
      // fire may still be running: wait it out by taking that heap's lock
      // (fire runs under it).
      if (P* home = static_cast<P*>(t->home.load(std::memory_order_relaxed))) {
        std::lock_guard<mutex> l(home->timers.lock);
      }
      return false;
    }
    std::lock_guard<mutex> l(p->timers.lock);
    if (heap_owner(t) != p) continue;  // fired or moved meanwhile: look again
    remove_at(p->timers, static_cast<std::size_t>(t->index));
    update_earliest(p->timers);
    return true;
  }
}

}  // namespace goro::detail
