// examples/cache: a loader-backed cache whose misses go through
// goro::singleflight. Many concurrent gets of a missing key load it once;
// entries expire after the time-to-live (a fake clock); a failed load
// reaches every caller and caches nothing.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>

#include "cache/cache.hpp"
#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using Cache = goro_test::RuntimeTest;
using clock_type = std::chrono::steady_clock;

// A clock the test moves by hand.
struct fake_clock {
  std::atomic<clock_type::rep> ticks{0};
  clock_type::time_point now() const { return clock_type::time_point(clock_type::duration(ticks.load())); }
  void advance(clock_type::duration d) { ticks += d.count(); }
};

TEST_P(Cache, ConcurrentMissesLoadOnce) {
  const int n = static_cast<int>(goro_test::live_fibers(1000));
  std::atomic<int> right{0};
  std::uint64_t loads = 0;
  goro::run(opts(), [&] {
    goro::chan<int> gate;
    example::cache<std::string> c(
        [&](const goro::context&, const std::string& key) {
          gate.recv();
          return "v:" + key;
        },
        1h);
    goro::wait_group wg;
    for (int i = 0; i < n; i++) {
      wg.add(1);
      goro::go([&] {
        right += c.get(goro::background(), "k") == "v:k";
        wg.done();
      });
    }
    while (c.loads() == 0) goro::this_fiber::yield();  // the load has started
    gate.close();
    wg.wait();
    EXPECT_EQ(c.get(goro::background(), "k"), "v:k");
    loads = c.loads();
  });
  EXPECT_EQ(right.load(), n);
  // However the getters interleave with the load: each joins it or, once
  // it has stored the value, hits (a miss that reaches a new flight finds
  // the value there).
  EXPECT_EQ(loads, 1u);
}

TEST_P(Cache, EntriesExpireAfterTheTimeToLive) {
  goro::run(opts(), [] {
    fake_clock clk;
    int version = 0;
    example::cache<int> c([&](const goro::context&, const std::string&) { return ++version; }, 10s,
                          [&] { return clk.now(); });
    EXPECT_EQ(c.get(goro::background(), "a"), 1);
    clk.advance(9s);
    EXPECT_EQ(c.get(goro::background(), "a"), 1);  // still fresh
    clk.advance(1s);
    EXPECT_EQ(c.get(goro::background(), "a"), 2);  // expired: loaded again
    EXPECT_EQ(c.loads(), 2u);
    EXPECT_EQ(c.hits(), 1u);
    c.invalidate("a");
    EXPECT_EQ(c.get(goro::background(), "a"), 3);
  });
}

TEST_P(Cache, AFailedLoadReachesEveryCallerAndCachesNothing) {
  const int n = 50;
  std::atomic<int> failed{0};
  goro::run(opts(), [&] {
    goro::chan<int> gate;
    std::atomic<bool> fail{true};
    example::cache<int> c(
        [&](const goro::context&, const std::string&) {
          gate.recv();
          if (fail) throw std::runtime_error("database down");
          return 7;
        },
        1h);
    goro::wait_group wg;
    for (int i = 0; i < n; i++) {
      wg.add(1);
      goro::go([&] {
        try {
          (void)c.get(goro::background(), "k");
        } catch (const std::runtime_error&) {
          failed++;
        }
        wg.done();
      });
    }
    while (c.loads() == 0) goro::this_fiber::yield();
    gate.close();
    wg.wait();
    fail = false;
    EXPECT_EQ(c.get(goro::background(), "k"), 7);  // nothing was cached
    EXPECT_EQ(c.hits(), 0u);
  });
  EXPECT_EQ(failed.load(), n);
}

GORO_INSTANTIATE_PROCS(Cache);

}  // namespace
