// Timers: sleeping (never early, all wake), after() in select, timer and
// ticker stop/reset semantics (Go 1.23: no stale value), tickers not
// starved by a runnext ping-pong, no deadlock report while timers pend.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using goro_test::scaled;
using namespace std::chrono_literals;
using clk = goro::steady_clock;

using Timers = goro_test::RuntimeTest;
using TimersStarvation = goro_test::FixedRuntimeTest;
using TimersThreads = goro_test::FixedRuntimeTest;

// Many sleepers with random deadlines in 0-100 ms from a common start: all
// wake, none early.
TEST_P(Timers, ManySleepersAllWakeNoneEarly) {
  const std::int64_t n = goro_test::live_fibers(100000);
  std::atomic<std::int64_t> woke{0}, early{0};
  goro::run(opts(), [&] {
    std::mt19937_64 rng(42);
    const auto t0 = clk::now() + 20ms;
    goro::wait_group wg;
    wg.add(n);
    for (std::int64_t i = 0; i < n; i++) {
      const auto deadline = t0 + std::chrono::microseconds(rng() % 100000);
      goro::go([&, deadline] {
        goro::this_fiber::sleep_until(deadline);
        if (clk::now() < deadline) early++;
        woke++;
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(woke.load(), n);
  EXPECT_EQ(early.load(), 0);
}

TEST_P(Timers, SleepForWaitsAtLeastTheDuration) {
  goro::run(opts(), [] {
    for (auto d : {0ms, 1ms, 5ms, 20ms}) {
      const auto t = clk::now();
      goro::this_fiber::sleep_for(d);
      EXPECT_GE(clk::now() - t, d);
    }
    // Zero and negative return at once (after a yield).
    goro::this_fiber::sleep_for(-5ms);
    goro::this_fiber::sleep_until(clk::now() - 1s);
  });
}

// With procs = 1, two fibers handing a value back and forth through runnext
// do not starve a ticker's receiver.
TEST_F(TimersStarvation, TickerTicksDuringARunnextPingPong) {
  goro::run({.procs = 1}, [] {
    std::atomic<bool> stop{false};
    goro::chan<int> a, b;
    goro::wait_group wg;
    wg.add(3);
    goro::go([&] {
      while (!stop.load()) {
        a.send(1);
        b.recv();
      }
      a.close();
      wg.done();
    });
    goro::go([&] {
      while (a.recv()) b.send(1);
      wg.done();
    });
    int ticks = 0;
    goro::go([&] {
      goro::ticker t(5ms);
      const auto end = clk::now() + 300ms;
      while (clk::now() < end) {
        t.channel().recv();
        ticks++;
      }
      stop = true;
      wg.done();
    });
    wg.wait();
    // ~60 periods; the ring gets a turn every 10 ms of runnext streak, and
    // missed ticks are dropped, so expect at least a fifth.
    EXPECT_GE(ticks, 12);
  });
}

TEST_P(Timers, AfterInSelect) {
  goro::run(opts(), [] {
    goro::chan<int> never;
    const auto t = clk::now();
    bool timed_out = false;
    goro::select(goro::on_recv(never), goro::on_recv(goro::after(10ms), [&] { timed_out = true; }));
    EXPECT_TRUE(timed_out);
    EXPECT_GE(clk::now() - t, 10ms);
    // An after() nobody waits for is released when the runtime ends.
    goro::after(1h);
  });
}

TEST_P(Timers, TimerStopAndResetReturnValues) {
  goro::run(opts(), [] {
    goro::timer t(50ms);
    EXPECT_TRUE(t.stop());   // pending
    EXPECT_FALSE(t.stop());  // already stopped
    EXPECT_FALSE(t.reset(1ms));  // was stopped
    const auto v = t.channel().recv();  // fires
    ASSERT_TRUE(v);
    EXPECT_FALSE(t.stop());  // already fired
    EXPECT_FALSE(t.reset(1h));
    const auto r = clk::now();
    EXPECT_TRUE(t.reset(5ms));  // pending again: moved
    const auto w = t.channel().recv();
    ASSERT_TRUE(w);
    EXPECT_GE(*w - r, 5ms);
  });
}

// Go 1.23's rule: once stop or reset returns, nothing from the old schedule
// can be received, however the fire raced with it.
TEST_P(Timers, NoStaleValueAfterStopOrReset) {
  goro::run(opts(), [] {
    const int rounds = static_cast<int>(scaled(300));
    for (int i = 0; i < rounds; i++) {
      goro::timer t(std::chrono::microseconds(200 + (i % 7) * 50));
      // Spin until roughly the deadline, so the fire and stop race.
      const auto until = clk::now() + std::chrono::microseconds(150 + (i % 11) * 20);
      while (clk::now() < until) goro::this_fiber::yield();
      if (i % 2 == 0) {
        t.stop();
        ASSERT_EQ(t.channel().size(), 0u) << "round " << i;
        goro::this_fiber::sleep_for(1ms);  // past the old deadline
        ASSERT_EQ(t.channel().size(), 0u) << "a stopped timer fired, round " << i;
      } else {
        const auto r = clk::now();
        t.reset(2ms);
        // Whatever arrives now (at once, if this thread was slow) must come
        // from the new schedule.
        auto v = t.channel().recv();
        ASSERT_TRUE(v);
        ASSERT_GE(*v - r, 2ms) << "value from the old schedule after reset, round " << i;
        ASSERT_EQ(t.channel().size(), 0u) << "two values, round " << i;
      }
    }
  });
}

// Many fibers stop and reset one timer while it fires: no crash, no lost
// state, and a final stop leaves nothing to receive.
TEST_P(Timers, ConcurrentStopResetFromManyFibers) {
  goro::run(opts(), [] {
    goro::timer t(100us);
    goro::wait_group wg;
    const int per = static_cast<int>(scaled(500));
    wg.add(8);
    for (int f = 0; f < 8; f++)
      goro::go([&, f] {
        for (int i = 0; i < per; i++) {
          if ((i + f) % 3 == 0) {
            t.stop();
          } else {
            t.reset(std::chrono::microseconds(50 + (i % 5) * 30));
          }
          if (i % 16 == 0) goro::this_fiber::yield();
          auto r = t.channel().try_recv();
          (void)r;
        }
        wg.done();
      });
    wg.wait();
    t.stop();
    goro::this_fiber::sleep_for(2ms);
    EXPECT_EQ(t.channel().size(), 0u);
  });
}

TEST_P(Timers, TickerTicksAndStops) {
  goro::run(opts(), [] {
    // Read the clock first: the ticker's schedule starts when it is made,
    // and the thread may be descheduled between the two (seen under TSan).
    const auto t = clk::now();
    goro::ticker tk(2ms);
    for (int i = 0; i < 5; i++) ASSERT_TRUE(tk.channel().recv());
    EXPECT_GE(clk::now() - t, 10ms);
    tk.stop();
    EXPECT_EQ(tk.channel().size(), 0u);
    goro::this_fiber::sleep_for(10ms);
    EXPECT_EQ(tk.channel().size(), 0u) << "a stopped ticker ticked";
    tk.reset(1ms);
    EXPECT_TRUE(tk.channel().recv());
  });
}

// Sleeping fibers are not a deadlock: a timer will wake them.
TEST_P(Timers, NoDeadlockReportWhileSleeping) {
  const int v = goro::run(opts(), [] {
    goro::chan<int> c;
    goro::go([&] {
      goro::this_fiber::sleep_for(30ms);
      c.send(5);
    });
    return *c.recv();
  });
  EXPECT_EQ(v, 5);
}

GORO_INSTANTIATE_PROCS(Timers);

TEST_F(TimersThreads, SleepOnAPlainThreadSleepsTheThread) {
  const auto t = clk::now();
  goro::this_fiber::sleep_for(5ms);
  EXPECT_GE(clk::now() - t, 5ms);
}

}  // namespace
