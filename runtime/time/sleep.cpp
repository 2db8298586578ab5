// sleep, after, timer and ticker on top of the timer heaps (timers.hpp).
#include <thread>

#include "goro/this_fiber.hpp"
#include "goro/time.hpp"
#include "sched/caller.hpp"
#include "sched/g.hpp"
#include "sched/park.hpp"

namespace goro {

namespace detail {

void sleep_until_ns(std::int64_t when) {
  const rt::caller c = rt::classify();
  if (c.kind != rt::caller_kind::fiber) {
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
  s.g = c.g;
  s.fire = [](timer_node* t, std::int64_t) { rt::ready(static_cast<sleeper*>(t)->g); };
  // The timer starts once we have switched out (park's unlock runs after
  // the switch), so it cannot fire into a fiber that is still running.
  rt::park(wait_reason::sleep, [](void* a) { timer_start(static_cast<sleeper*>(a)); }, &s);
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
