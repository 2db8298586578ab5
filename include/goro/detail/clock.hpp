// The runtime's clock for the public templates: std::chrono::steady_clock
// (CLOCK_MONOTONIC) as nanoseconds, and conversions to and from it.
#pragma once

#include <chrono>
#include <cstdint>
#include <type_traits>

namespace goro::detail {

// Monotonic time (std::chrono::steady_clock) in nanoseconds.
std::int64_t now_ns() noexcept;

inline std::int64_t to_ns(std::chrono::steady_clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
inline std::chrono::steady_clock::time_point from_ns(std::int64_t ns) noexcept {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(ns)));
}
// now + d, never in the past.
template <class Rep, class Period>
std::int64_t deadline_ns(const std::chrono::duration<Rep, Period>& d) noexcept {
  const auto ns = std::chrono::ceil<std::chrono::nanoseconds>(d).count();
  return now_ns() + (ns > 0 ? static_cast<std::int64_t>(ns) : 0);
}
// A deadline on the runtime's clock from a time point of any clock.
template <class Clock, class Duration>
std::int64_t deadline_of(const std::chrono::time_point<Clock, Duration>& t) {
  if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  } else {
    return now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(t - Clock::now()).count();
  }
}

}  // namespace goro::detail
