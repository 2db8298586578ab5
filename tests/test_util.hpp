// Helpers shared by the tests.
#pragma once

#include <cstdint>

#include "goro/detail/config.hpp"

namespace goro_test {

// Sanitized builds run 5-20x slower: scale iteration counts down there so
// every test stays bounded in time, while plain builds run the full size.
inline constexpr bool sanitized = GORO_ASAN || GORO_TSAN;

inline std::int64_t scaled(std::int64_t n, std::int64_t divisor = 10) {
  return sanitized ? (n / divisor > 0 ? n / divisor : 1) : n;
}

}  // namespace goro_test

#include <gtest/gtest.h>

#include <string>

namespace goro_test {
// Names parameterised tests "procs1", "procs2", ...
inline std::string procs_name(const ::testing::TestParamInfo<int>& p) { return "procs" + std::to_string(p.param); }
}  // namespace goro_test

#include <cerrno>
#include <thread>

namespace goro_test {
// Fresh reads of thread-local state. glibc declares __errno_location and
// pthread_self `const`, so within one function the compiler may reuse the
// value from before a switch point, i.e. from the thread the fiber ran on
// then (the pitfall docs/design.md describes). Reading through an opaque
// function is what code in another function or library sees.
[[gnu::noinline]] inline std::thread::id thread_id() {
  asm volatile("");
  return std::this_thread::get_id();
}
[[gnu::noinline]] inline int get_errno() {
  asm volatile("");
  return errno;
}
[[gnu::noinline]] inline void set_errno(int v) {
  asm volatile("");
  errno = v;
}
}  // namespace goro_test
