// Time: sleeping, one-shot and periodic timers, and timeout channels
// (Go's time.Sleep, time.After, time.Timer, time.Ticker), on the
// runtime's per-P timer heaps. All times are std::chrono::steady_clock.
//
// Precision: a sleeping runtime wakes at the deadline (futex timeout, no
// polling and no rounding to milliseconds); expect tens of microseconds of
// lateness on an idle machine. A fiber never wakes before its deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "goro/chan.hpp"
#include "goro/detail/clock.hpp"
#include "goro/detail/timer.hpp"
#include "goro/detail/spinlock.hpp"

namespace goro {

using steady_clock = std::chrono::steady_clock;

namespace detail {
// Park the calling fiber (or sleep the thread) until `when` (now_ns clock).
void sleep_until_ns(std::int64_t when);
}  // namespace detail

namespace this_fiber {

// Park the calling fiber until `t` (at once, after a yield, if t has
// passed). On a thread outside the runtime, or inside goro::blocking, it
// sleeps the thread.
inline void sleep_until(steady_clock::time_point t) { detail::sleep_until_ns(detail::to_ns(t)); }

template <class Rep, class Period>
void sleep_for(const std::chrono::duration<Rep, Period>& d) {
  detail::sleep_until_ns(detail::deadline_ns(d));
}

}  // namespace this_fiber

// A channel that receives the current time once, `d` from now (Go's
// time.After). Usable in select. Must be called in a runtime. The timer
// is released when it fires, or when the runtime ends.
chan<steady_clock::time_point> after_ns(std::int64_t ns);
template <class Rep, class Period>
chan<steady_clock::time_point> after(const std::chrono::duration<Rep, Period>& d) {
  return after_ns(std::chrono::ceil<std::chrono::nanoseconds>(d).count());
}

// A one-shot timer (Go's time.Timer): channel() receives the time once,
// `d` after construction or the last reset. Go 1.23 semantics: once stop()
// or reset() returns, no value from the old schedule can be received.
// Construct and reset it in a runtime (a fiber); stop may be called from any
// thread.
class timer {
 public:
  template <class Rep, class Period>
  explicit timer(const std::chrono::duration<Rep, Period>& d) : s_(std::make_unique<state>()) {
    start(detail::deadline_ns(d), 0);
  }
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;
  ~timer() { detail::timer_stop(s_.get()); }

  // The timer's channel (a handle to it; copies share it).
  chan<steady_clock::time_point> channel() const noexcept { return s_->c; }

  // True if the timer was pending (and now will not fire).
  bool stop();
  // Re-arm for `d` from now. True if it was pending.
  template <class Rep, class Period>
  bool reset(const std::chrono::duration<Rep, Period>& d) {
    return restart(detail::deadline_ns(d), 0);
  }

 protected:
  struct state : detail::timer_node {
    chan<steady_clock::time_point> c{1};
    detail::spinlock mu;  // serialises stop/reset
  };
  timer() : s_(std::make_unique<state>()) {}
  void start(std::int64_t when, std::int64_t period);
  bool restart(std::int64_t when, std::int64_t period);

  std::unique_ptr<state> s_;
};

// A periodic timer (Go's time.Ticker): channel() receives the time every
// `period`; ticks a slow receiver misses are dropped (the channel holds at
// most one). stop() and reset() as for timer.
class ticker : private timer {
 public:
  template <class Rep, class Period>
  explicit ticker(const std::chrono::duration<Rep, Period>& period) {
    const std::int64_t p = checked(period);
    start(detail::now_ns() + p, p);
  }
  using timer::channel;
  void stop() { timer::stop(); }
  template <class Rep, class Period>
  void reset(const std::chrono::duration<Rep, Period>& period) {
    const std::int64_t p = checked(period);
    restart(detail::now_ns() + p, p);
  }

 private:
  template <class Rep, class Period>
  static std::int64_t checked(const std::chrono::duration<Rep, Period>& d) {
    const auto ns = std::chrono::ceil<std::chrono::nanoseconds>(d).count();
    if (ns <= 0) throw std::invalid_argument("goro::ticker: the period must be positive");
    return static_cast<std::int64_t>(ns);
  }
};

}  // namespace goro
