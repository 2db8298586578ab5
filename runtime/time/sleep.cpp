// sleep, after, timer and ticker on top of the timer heaps (timers.cpp).
#include <time.h>

#include <thread>

#include "goro/this_fiber.hpp"
#include "goro/time.hpp"
#include "sched/futex.hpp"
#include "sched/sched.hpp"

namespace goro {

namespace detail {

void sleep_until_ns(std::int64_t when) {
  rt::M* m = rt::current_m();
  rt::G* g = m ? m->curg : nullptr;
  if (g == nullptr || g->status.load(std::memory_order_relaxed) == rt::gstatus::syscall) {
    // A thread, or a fiber inside goro::blocking: sleep the thread.
    for (std::int64_t left; (left = when - now_ns()) > 0;) std::this_thread::sleep_for(std::chrono::nanoseconds(left));
    return;
  }
  if (when <= now_ns()) {
    this_fiber::yield();
    return;
  }
  struct sleeper : timer_node {
    fiber* g;
  } s;
  s.when = when;
  s.g = g;
  s.fire = [](timer_node* t, std::int64_t) { ready(static_cast<sleeper*>(t)->g); };
  // The timer starts once we have switched out (park's unlock runs after
  // the switch), so it cannot fire into a fiber that is still running.
  park(wait_reason::sleep, [](void* a) { timer_start(static_cast<sleeper*>(a)); }, &s);
}

namespace {

struct timed_park : timer_node {
  parker* p;
  void (*unlock)(void*);
  void* arg;
};

}  // namespace

bool parker_block_until(parker& p, std::int64_t deadline, wait_reason why, void (*unlock)(void*), void* arg) {
  if (p.g == nullptr) {
    // A thread: a futex wait with a timeout.
    unlock(arg);
    for (;;) {
      // acquire: pairs with parker_wake's release store.
      if (p.woken.load(std::memory_order_acquire) != 0) return true;
      const std::int64_t left = deadline - now_ns();
      if (left <= 0) break;
      timespec ts{static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)};
      rt::futex_wait(&p.woken, 0, &ts);
    }
    std::uint32_t open = 0;
    if (p.claimed.compare_exchange_strong(open, 2, std::memory_order_acq_rel, std::memory_order_acquire)) return false;
    // A waker claimed us first: its wake-up is on its way.
    while (p.woken.load(std::memory_order_acquire) == 0) rt::futex_wait(&p.woken, 0, nullptr);
    return true;
  }
  timed_park tp;
  tp.when = deadline;
  tp.p = &p;
  tp.unlock = unlock;
  tp.arg = arg;
  tp.fire = [](timer_node* t, std::int64_t) {
    auto* x = static_cast<timed_park*>(t);
    std::uint32_t open = 0;
    if (x->p->claimed.compare_exchange_strong(open, 2, std::memory_order_acq_rel, std::memory_order_acquire))
      parker_wake(*x->p);
  };
  // Once we have switched out: start the timer *before* releasing
  // the caller's lock. A waker needs that lock to find us, so the timer is
  // in its heap before anyone can wake us and run timer_stop below.
  park(why, [](void* a) {
    auto* x = static_cast<timed_park*>(a);
    // Read x first: once the timer is in a heap it may fire at once and
    // resume the fiber, whose frame (and x with it) then goes away.
    void (*release)(void*) = x->unlock;
    void* lock = x->arg;
    timer_start(x);
    release(lock);
  }, &tp);
  if (p.claimed.load(std::memory_order_acquire) == 2) return false;  // the timer won (and is gone)
  // A waker won: stop the timer; if it is firing right now, timer_stop
  // waits for it, and its claim fails.
  timer_stop(&tp);
  return true;
}

}  // namespace detail

chan<steady_clock::time_point> after_ns(std::int64_t ns) {
  struct after_state : detail::timer_node {
    chan<steady_clock::time_point> c{1};
  };
  auto* st = new after_state;
  st->when = detail::now_ns() + (ns > 0 ? ns : 0);
  st->fire = [](detail::timer_node* t, std::int64_t now) {
    auto* a = static_cast<after_state*>(t);
    try {
      a->c.try_send(detail::from_ns(now));  // capacity 1, sent once: never full
    } catch (const closed_channel_error&) {
      // The user closed the channel: nobody to tell.
    }
    delete a;
  };
  st->drop = [](detail::timer_node* t) { delete static_cast<after_state*>(t); };
  chan<steady_clock::time_point> c = st->c;
  try {
    detail::timer_start(st);
  } catch (...) {
    delete st;
    throw;
  }
  return c;
}

namespace {

void drain(const chan<steady_clock::time_point>& c) {
  chan<steady_clock::time_point> h = c;
  while (h.try_recv().status == recv_status::ok) {
  }
}

}  // namespace

void timer::start(std::int64_t when, std::int64_t period) {
  s_->when = when;
  s_->period = period;
  s_->fire = [](detail::timer_node* t, std::int64_t now) {
    // A full channel (a ticker's receiver fell behind): the tick is dropped.
    // A channel the user closed: ignored (fire runs on the scheduler).
    try {
      static_cast<state*>(t)->c.try_send(detail::from_ns(now));
    } catch (const closed_channel_error&) {
    }
  };
  detail::timer_start(s_.get());
}

bool timer::stop() {
  std::lock_guard<detail::spinlock> l(s_->mu);
  const bool pending = detail::timer_stop(s_.get());
  // timer_stop waited for a fire in progress; nothing can send after this.
  drain(s_->c);
  return pending;
}

bool timer::restart(std::int64_t when, std::int64_t period) {
  std::lock_guard<detail::spinlock> l(s_->mu);
  const bool pending = detail::timer_stop(s_.get());
  drain(s_->c);
  start(when, period);
  return pending;
}

}  // namespace goro
