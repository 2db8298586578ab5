// Long randomised runs mixing spawns, yields, channels, wait groups and
// blocking calls across procs, checking every message and fiber is
// accounted for. ctest label: stress.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <thread>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using Stress = goro_test::RuntimeTest;

// A random tree of fibers; each node sends its subtree size to its parent.
std::int64_t node(std::uint64_t seed, int depth) {
  std::mt19937_64 rng(seed);
  std::int64_t total = 1;
  if (depth == 0) return total;
  const int kids = static_cast<int>(rng() % 5);
  goro::chan<std::int64_t> results(rng() % 2 ? kids : 0);
  for (int k = 0; k < kids; k++) {
    const std::uint64_t s = rng();
    goro::go([&results, s, depth] { results.send(node(s, depth - 1)); });
  }
  if (rng() % 3 == 0) goro::this_fiber::yield();
  for (int k = 0; k < kids; k++) total += *results.recv();
  return total;
}

std::int64_t expected(std::uint64_t seed, int depth) {
  std::mt19937_64 rng(seed);
  std::int64_t total = 1;
  if (depth == 0) return total;
  const int kids = static_cast<int>(rng() % 5);
  rng();  // channel capacity choice
  std::vector<std::uint64_t> seeds;
  for (int k = 0; k < kids; k++) seeds.push_back(rng());
  for (auto s : seeds) total += expected(s, depth - 1);
  return total;
}

TEST_P(Stress, RandomFiberTrees) {
  const int iterations = goro_test::sanitized ? 5 : 40;
  for (int it = 0; it < iterations; it++) {
    const std::uint64_t seed = 1234 + it;
    const int depth = 7;
    const std::int64_t got = goro::run(opts(), [&] { return node(seed, depth); });
    ASSERT_EQ(got, expected(seed, depth)) << "seed " << seed;
  }
}

TEST_P(Stress, PipelineWithBlockingStages) {
  const std::int64_t n = goro_test::scaled(20000);
  std::int64_t sum = 0;
  goro::run(opts(), [&] {
    goro::chan<std::int64_t> a(16), b, c(3);
    goro::go([&] {
      for (std::int64_t i = 1; i <= n; i++) a.send(i);
      a.close();
    });
    goro::wait_group stage;
    stage.add(3);
    for (int w = 0; w < 3; w++)
      goro::go([&, w] {
        int k = 0;
        while (auto v = a.recv()) {
          if (++k % 1000 == w) goro::blocking([] { std::this_thread::yield(); });
          b.send(*v * 2);
        }
        stage.done();
      });
    goro::go([&] {
      stage.wait();
      b.close();
    });
    goro::go([&] {
      while (auto v = b.recv()) c.send(*v);
      c.close();
    });
    while (auto v = c.recv()) sum += *v;
  });
  EXPECT_EQ(sum, n * (n + 1));
}

TEST_P(Stress, SpawnStorm) {
  const std::int64_t n = goro_test::scaled(1000000);
  std::atomic<std::int64_t> count{0};
  goro::run(opts(), [&] {
    goro::wait_group wg;
    for (int w = 0; w < 4; w++) {
      wg.add(1);
      goro::go([&] {
        goro::wait_group inner;
        inner.add(n / 4);
        for (std::int64_t i = 0; i < n / 4; i++)
          goro::go([&] {
            count.fetch_add(1, std::memory_order_relaxed);
            inner.done();
          });
        inner.wait();
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(count.load(), n / 4 * 4);
}

GORO_INSTANTIATE_PROCS(Stress);

}  // namespace
