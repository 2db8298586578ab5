// An idle runtime sleeps: idle Ms park on a futex instead of spinning.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include "test_util.hpp"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace {

// utime + stime of this process, in seconds (/proc/self/stat fields 14, 15).
double cpu_seconds() {
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

// Four Ps, all idle for a second: the main fiber is inside a blocking call
// (its P handed off), every other M parked. The process should use almost
// no CPU; a spinning scheduler would use up to 4 CPU-seconds.
TEST(Idle, IdleRuntimeUsesAlmostNoCpu) {
  double used = -1;
  goro::run({.procs = 4}, [&] {
    // Wake every M once so they all exist and then go idle.
    goro::wait_group wg;
    wg.add(64);
    for (int i = 0; i < 64; i++)
      goro::go([&] {
        for (int k = 0; k < 100; k++) goro::this_fiber::yield();
        wg.done();
      });
    wg.wait();
    goro::blocking([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let them park
      const double before = cpu_seconds();
      std::this_thread::sleep_for(std::chrono::seconds(1));
      used = cpu_seconds() - before;
    });
  });
  EXPECT_GE(used, 0.0);
  EXPECT_LT(used, 0.1) << "an idle runtime burned " << used << " CPU-seconds in one second";
}

}  // namespace
