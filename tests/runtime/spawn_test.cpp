// Every spawned fiber runs exactly once, for procs 1, 2, 4, 8: flat loops
// with millions of spawns, deep nested spawning, arguments, stack sizes.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using Spawn = goro_test::RuntimeTest;

TEST_P(Spawn, EveryFiberRunsExactlyOnce) {
  const std::int64_t n = goro_test::scaled(2000000, 20);
  std::unique_ptr<std::atomic<std::uint8_t>[]> ran(new std::atomic<std::uint8_t>[n]);
  for (std::int64_t i = 0; i < n; i++) ran[i].store(0);
  goro::run(opts(), [&] {
    goro::wait_group wg;
    wg.add(n);
    for (std::int64_t i = 0; i < n; i++) {
      goro::go([&, i] {
        ran[i].fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
  });
  std::int64_t bad = 0;
  for (std::int64_t i = 0; i < n; i++) bad += ran[i].load() != 1;
  EXPECT_EQ(bad, 0);
}

// A tree of nested spawns: every node spawns `fanout` children down to
// `depth`; each fiber counts itself once. Run returns only after all ran.
void tree(std::atomic<std::int64_t>& count, int depth, int fanout) {
  count.fetch_add(1, std::memory_order_relaxed);
  if (depth == 0) return;
  for (int i = 0; i < fanout; i++) goro::go(tree, std::ref(count), depth - 1, fanout);
}

TEST_P(Spawn, NestedSpawningTreeRunsEveryNodeOnce) {
  std::atomic<std::int64_t> count{0};
  const int depth = goro_test::sanitized ? 5 : 6;
  goro::run(opts(), [&] { tree(count, depth, 10); });  // run joins all fibers
  std::int64_t want = 0, level = 1;
  for (int d = 0; d <= depth; d++, level *= 10) want += level;
  EXPECT_EQ(count.load(), want);
}

// A chain: each fiber spawns the next, 100,000 deep.
void chain(std::atomic<std::int64_t>& count, std::int64_t left) {
  count.fetch_add(1, std::memory_order_relaxed);
  if (left > 0) goro::go(chain, std::ref(count), left - 1);
}

TEST_P(Spawn, DeepChainOfSpawns) {
  std::atomic<std::int64_t> count{0};
  const std::int64_t n = goro_test::scaled(100000);
  goro::run(opts(), [&] { chain(count, n - 1); });
  EXPECT_EQ(count.load(), n);
}

TEST_P(Spawn, ArgumentsAreDecayCopiedAndMovedIn) {
  std::string result;
  goro::run(opts(), [&] {
    goro::wait_group wg;
    wg.add(1);
    auto owned = std::make_unique<int>(7);
    std::string s = "abc";
    goro::go(
        [&](std::unique_ptr<int> p, std::string str, int k) {
          result = str + std::to_string(*p + k);
          wg.done();
        },
        std::move(owned), s, 3);
    s = "changed";  // the fiber has its own copy
    wg.wait();
  });
  EXPECT_EQ(result, "abc10");
}

TEST_P(Spawn, PerCallStackSize) {
  std::atomic<int> ok{0};
  goro::run(opts(), [&] {
    goro::wait_group wg;
    wg.add(2);
    // 1 MiB of locals needs a bigger stack than the 256 KiB default.
    goro::go(goro::spawn_options{.stack_size = 4 << 20}, [&] {
      volatile char big[1 << 20];
      big[0] = 1;
      big[sizeof big - 1] = 2;
      ok += big[0] + big[sizeof big - 1] == 3;
      wg.done();
    });
    goro::go(goro::spawn_options{.stack_size = 32 << 10}, [&] {
      ok++;
      wg.done();
    });
    wg.wait();
  });
  EXPECT_EQ(ok.load(), 2);
}

TEST_P(Spawn, RuntimeDefaultStackSize) {
  std::atomic<int> ok{0};
  goro::run({.procs = procs(), .stack_size = 2 << 20}, [&] {
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      volatile char big[1 << 20];
      big[0] = 1;
      ok = big[0];
      wg.done();
    });
    wg.wait();
  });
  EXPECT_EQ(ok.load(), 1);
}

TEST_P(Spawn, FiberIdsAreUnique) {
  const int n = 10000;
  std::vector<std::uint64_t> ids(n);
  goro::run(opts(), [&] {
    EXPECT_EQ(goro::this_fiber::id(), 1u);  // the main fiber
    goro::wait_group wg;
    wg.add(n);
    for (int i = 0; i < n; i++)
      goro::go([&, i] {
        ids[i] = goro::this_fiber::id();
        wg.done();
      });
    wg.wait();
  });
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end());
  EXPECT_GT(ids.front(), 1u);
}

GORO_INSTANTIATE_PROCS(Spawn);

}  // namespace
