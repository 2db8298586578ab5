// An idle runtime sleeps: idle Ms park on a futex instead of spinning.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

#include <chrono>
#include <thread>

namespace {

using Idle = goro_test::FixedRuntimeTest;

// Four Ps, all idle for a second: the main fiber is inside a blocking call
// (its P handed off), every other M parked. The process should use almost
// no CPU; a spinning scheduler would use up to 4 CPU-seconds.
TEST_F(Idle, IdleRuntimeUsesAlmostNoCpu) {
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
      const double before = goro_test::cpu_seconds();
      std::this_thread::sleep_for(std::chrono::seconds(1));
      used = goro_test::cpu_seconds() - before;
    });
  });
  EXPECT_GE(used, 0.0);
  EXPECT_LT(used, 0.1) << "an idle runtime burned " << used << " CPU-seconds in one second";
}

}  // namespace
