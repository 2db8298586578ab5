// The runtime's clocks. Every time in goro is CLOCK_MONOTONIC in
// nanoseconds (what std::chrono::steady_clock reads; the public
// goro::detail::now_ns() is this clock).
//
//   now_ns()         precise (a vDSO read): deadlines, timers,
//                    sysmon's looks.
//   coarse_now_ns()  the same clock at tick resolution (1-4 ms, cheaper to
//                    read): the fairness time slice, which only needs to
//                    tell 10 ms from 0.
//
// runtime::sysmon_clock_ns is not a clock: it is sysmon's last now_ns()
// reading, stored for parked fibers' "waiting since" (debug/checkdead.cpp).
#pragma once

#include <time.h>

#include <cstdint>

namespace goro::rt {

inline std::int64_t to_ns(const timespec& ts) noexcept {
  return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// A relative timeout for futex and similar calls (ns >= 0).
inline timespec to_timespec(std::int64_t ns) noexcept {
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

inline std::int64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return to_ns(ts);
}

inline std::int64_t coarse_now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return to_ns(ts);
}

}  // namespace goro::rt
