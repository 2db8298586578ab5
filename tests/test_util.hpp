// Helpers shared by the tests.
#pragma once

#include <chrono>
#include <cstdint>

#include "goro/detail/config.hpp"
#include "goro/this_fiber.hpp"
#include "goro/time.hpp"

namespace goro_test {

// Sanitized builds run 5-20x slower: scale iteration counts down there so
// every test stays bounded in time, while plain builds run the full size.
inline constexpr bool sanitized = GORO_ASAN || GORO_TSAN;

inline std::int64_t scaled(std::int64_t n, std::int64_t divisor = 10) {
  return sanitized ? (n / divisor > 0 ? n / divisor : 1) : n;
}

// ThreadSanitizer registers every fiber as a thread and dies ("Thread limit
// (8128 threads) exceeded") when more are alive at once, counting the dead
// fibers kept in the runtime's caches. Tests that keep many fibers parked
// at the same time cap their count with this under TSan.
inline constexpr std::int64_t tsan_live_fiber_cap = 4000;

inline std::int64_t live_fibers(std::int64_t n, std::int64_t divisor = 10) {
  const std::int64_t s = scaled(n, divisor);
  return GORO_TSAN && s > tsan_live_fiber_cap ? tsan_live_fiber_cap : s;
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

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace goro_test {
// utime + stime of this process, in seconds (/proc/self/stat fields 14, 15).
inline double cpu_seconds() {
  std::ifstream f("/proc/self/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto pos = s.rfind(')');
  std::istringstream in(s.substr(pos + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15; i++) {
    in >> field;
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}
}  // namespace goro_test

#include <dirent.h>

namespace goro_test {
// Descriptors open in this process (entries of /proc/self/fd, counting the
// one the listing itself opens).
inline int open_fds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) n++;
    closedir(d);
  }
  return n;
}
// Polls pred from a fiber until it holds; false after `limit`, so that the
// test fails instead of hanging. For conditions that other fibers bring
// about with no event to wait for (a counter reaching a value); nothing
// asserts how long it took. Between polls the fiber yields, or sleeps
// `pause` when one is given (a poller that should leave its P to others).
template <class Pred>
bool eventually(Pred pred, std::chrono::nanoseconds pause = std::chrono::nanoseconds::zero(),
                std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    if (pause.count() > 0)
      goro::this_fiber::sleep_for(pause);
    else
      goro::this_fiber::yield();
  }
  return true;
}

}  // namespace goro_test
