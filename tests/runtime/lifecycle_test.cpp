// Runtime lifecycle: results, many runtimes in sequence, misuse outside a
// runtime, the main fiber returning while others still run.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using Lifecycle = goro_test::FixedRuntimeTest;

TEST_F(Lifecycle, RunReturnsTheMainFibersResult) {
  EXPECT_EQ(goro::run({.procs = 2}, [] { return 42; }), 42);
  EXPECT_EQ(goro::run([] { return std::string("hi"); }), "hi");
  int x = 0;
  int& r = goro::run({.procs = 1}, [&]() -> int& { return x; });
  EXPECT_EQ(&r, &x);
}

TEST_F(Lifecycle, ManyRuntimesOneAfterAnother) {
  for (int i = 0; i < 200; i++) {
    const int procs = 1 + i % 4;
    std::atomic<int> n{0};
    goro::run({.procs = procs}, [&] {
      for (int k = 0; k < 20; k++) goro::go([&] { n++; });
    });
    ASSERT_EQ(n.load(), 20) << "runtime " << i;
  }
}

TEST_F(Lifecycle, RuntimesOnSeveralThreadsAtOnce) {
  std::atomic<int> total{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++) {
    ts.emplace_back([&] {
      goro::run({.procs = 2}, [&] {
        goro::wait_group wg;
        wg.add(1000);
        for (int k = 0; k < 1000; k++)
          goro::go([&] {
            total++;
            wg.done();
          });
        wg.wait();
      });
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(total.load(), 4000);
}

TEST_F(Lifecycle, GoOutsideARuntimeThrows) {
  EXPECT_THROW(goro::go([] {}), std::logic_error);
  EXPECT_THROW(goro::this_fiber::yield(), std::logic_error);
  EXPECT_EQ(goro::this_fiber::id(), 0u);
  // Channels work on plain threads (they block the thread, not a fiber).
  goro::chan<int> c(1);
  c.send(7);
  EXPECT_EQ(c.recv(), 7);
}

TEST_F(Lifecycle, RunInsideARuntimeThrows) {
  bool threw = false;
  goro::run({.procs = 1}, [&] {
    try {
      goro::run([] {});
    } catch (const std::logic_error&) {
      threw = true;
    }
  });
  EXPECT_TRUE(threw);
}

TEST_F(Lifecycle, ExceptionFromMainIsRethrownByRun) {
  EXPECT_THROW(goro::run({.procs = 2}, [] { throw std::runtime_error("boom"); }), std::runtime_error);
  // The runtime was torn down cleanly: a new one works.
  EXPECT_EQ(goro::run([] { return 1; }), 1);
}

// The main fiber returns first; run waits for the fibers still running,
// including ones they spawn later and ones parked meanwhile.
TEST_F(Lifecycle, RunJoinsFibersThatOutliveMain) {
  std::atomic<int> finished{0};
  goro::run({.procs = 2}, [&] {
    auto ch = std::make_shared<goro::chan<int>>();
    goro::go([&, ch] {
      for (int i = 0; i < 100; i++) goro::this_fiber::yield();
      ch->send(1);  // parks until the receiver below runs
      finished++;
    });
    goro::go([&, ch] {
      goro::go([&] {
        for (int i = 0; i < 100; i++) goro::this_fiber::yield();
        finished++;
      });
      ch->recv();
      finished++;
    });
  });
  EXPECT_EQ(finished.load(), 3);
}

// The live count is kept per P (a fiber's spawn counted where it was
// spawned, its end where it ended) and summed only once every P is idle.
// Fibers that move between Ps and outlive main must all end before run()
// returns, and the count seen from inside agrees with the fibers alive.
using LifecycleProcs = goro_test::RuntimeTest;

void spawn_tree(int depth, std::atomic<int>& ended) {
  for (int i = 0; i < 3; i++) goro::this_fiber::yield();  // a chance to be stolen
  if (depth > 0)
    for (int i = 0; i < 4; i++) goro::go([depth, &ended] { spawn_tree(depth - 1, ended); });
  goro::this_fiber::yield();
  ended.fetch_add(1, std::memory_order_relaxed);  // the fiber's last act
}

TEST_P(LifecycleProcs, RunReturnsOnlyAfterTheLastFiberEndsWhereverFibersRan) {
  const int roots = 8;
  const int per_root = 1 + 4 + 16 + 64;  // depth 3, four children each
  for (int round = 0; round < 30; round++) {
    std::atomic<int> ended{0};
    goro::run(opts(), [&] {
      for (int i = 0; i < roots; i++) goro::go([&ended] { spawn_tree(3, ended); });
    });
    ASSERT_EQ(ended.load(), roots * per_root) << "round " << round;
  }
}

TEST_P(LifecycleProcs, LiveFibersCountsFibersSpawnedAndEndedOnDifferentPs) {
  for (int round = 0; round < 20; round++) {
    goro::run(opts(), [&] {
      const int n = 64;
      goro::chan<int> release;
      goro::wait_group started, ended;
      started.add(n);
      ended.add(n);
      for (int i = 0; i < n; i++)
        goro::go([&] {
          started.done();
          release.recv();  // woken on whichever P the close runs
          goro::this_fiber::yield();
          ended.done();
        });
      started.wait();
      EXPECT_EQ(goro::stats().live_fibers, n + 1);
      release.close();
      ended.wait();
      // The n fibers may still be between ended.done() and their end.
      EXPECT_TRUE(goro_test::eventually([] { return goro::stats().live_fibers == 1; }))
          << "live fibers: " << goro::stats().live_fibers;
    });
  }
}

GORO_INSTANTIATE_PROCS(LifecycleProcs);

TEST_F(Lifecycle, ProcsFromEnvironment) {
  setenv("GORO_MAXPROCS", "3", 1);
  EXPECT_EQ(goro::default_procs(), 3);
  setenv("GORO_MAXPROCS", "junk", 1);
  EXPECT_GE(goro::default_procs(), 1);
  unsetenv("GORO_MAXPROCS");
  EXPECT_GE(goro::default_procs(), 1);
  EXPECT_THROW(goro::run({.procs = -1}, [] {}), std::invalid_argument);
}

}  // namespace
