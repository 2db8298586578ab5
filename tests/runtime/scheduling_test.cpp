// Scheduler behaviour: fairness, real parallelism, migration across threads.
#include <gtest/gtest.h>

#include <chrono>

#include <goro/goro.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "runtime_fixture.hpp"
#include "sched/p.hpp"
#include "test_util.hpp"

namespace {

using Scheduling = goro_test::FixedRuntimeTest;

// With one P, n fibers that yield in a loop, `rounds` times each; returns
// by how many rounds one fiber ever got ahead of the slowest.
int yield_round_robin_lead(int n, int rounds) {
  std::vector<int> progress(n, 0);
  int max_lead = 0;
  // Round-robin order is what is measured: no sysmon, whose retake of a
  // slow M (TSan, a loaded machine) legitimately reorders fibers.
  goro::run({.procs = 1, .sysmon_tick = std::chrono::microseconds(-1)}, [&] {
    goro::wait_group wg;
    wg.add(n);
    // Every fiber waits at the gate until all exist: a fiber that started
    // while the others were still being spawned would be ahead of fibers
    // that did not exist yet, which says nothing about the run queue.
    goro::wait_group gate;
    gate.add(1);
    for (int f = 0; f < n; f++) {
      goro::go([&, f] {
        gate.wait();
        for (int r = 0; r < rounds; r++) {
          progress[f]++;
          int lo = progress[0];
          for (int x : progress) lo = std::min(lo, x);
          max_lead = std::max(max_lead, progress[f] - lo);
          goro::this_fiber::yield();
        }
        wg.done();
      });
    }
    gate.done();
    wg.wait();
  });
  for (int f = 0; f < n; f++) EXPECT_EQ(progress[f], rounds) << "fiber " << f;
  return max_lead;
}

// With one P, N fibers that yield in a loop all make progress: none runs
// twice before every other had a turn (FIFO through the local ring, so as
// many as the ring holds: fewer in a GORO_RUNQ_SIZE build).
TEST_F(Scheduling, YieldingFibersAllProgressWithOneProc) {
  const int n = std::min<int>(50, static_cast<int>(goro::rt::runq_capacity));
  EXPECT_LE(yield_round_robin_lead(n, 200), 2) << "a fiber got ahead of another by more than one round";
}

// More yielders than the ring holds: the overflow waits on the global
// queue, which gets a turn every 61st pick while the ring's fibers cycle.
// Not round-robin (see design.md, "Fairness"), but nobody starves: every
// fiber finishes (a starved one would hang the test until its timeout).
TEST_F(Scheduling, YieldersBeyondTheRingAllFinish) {
  const int n = 2 * static_cast<int>(goro::rt::runq_capacity) + 88;
  yield_round_robin_lead(n, static_cast<int>(goro_test::scaled(50, 5)));
}

// A fiber that never blocks but yields cannot starve the others, even with
// a global-queue fiber waiting (the 1-in-61 check).
TEST_F(Scheduling, ProducerConsumerPairDoesNotStarveOthers) {
  std::atomic<bool> other_ran{false};
  goro::run({.procs = 1}, [&] {
    goro::chan<int> a, b;
    std::atomic<bool> stop{false};
    goro::wait_group pair;
    pair.add(2);
    goro::go([&] {
      while (!stop.load()) {
        a.send(1);
        b.recv();
      }
      a.close();
      pair.done();
    });
    goro::go([&] {
      while (a.recv()) b.send(1);
      pair.done();
    });
    goro::go([&] { other_ran = true; });
    // The ping-pong pair keeps readying each other through runnext; the
    // third fiber must still get a turn.
    for (int i = 0; i < 100000 && !other_ran.load(); i++) goro::this_fiber::yield();
    stop = true;
    pair.wait();
  });
  EXPECT_TRUE(other_ran.load());
}

// When a runnext streak's time slice ends, every fiber then queued gets a
// turn before the streak goes on, not just the ring's head (Go puts the
// preempted goroutine at the global queue's tail). procs = 1: a ping-pong
// pair keeps the streak going for 200 ms by its own clock while 300 fibers
// yield in a loop, more than the 256-slot ring holds, so some of them sit
// on the global queue. Each gets about one turn per 10 ms slice. Before,
// the ring got one pick per slice in all, so most of the 300 fell behind
// (least: 1 turn).
TEST_F(Scheduling, EveryQueuedFiberGetsATurnWhenAStreakExpires) {
  constexpr int yielders = 300;
  std::vector<std::atomic<int>> turns(yielders);
  goro::run({.procs = 1}, [&] {
    goro::chan<int> a, b;
    std::atomic<bool> stop{false};
    goro::wait_group wg;
    wg.add(2 + yielders);
    for (int i = 0; i < yielders; i++)
      goro::go([&, i] {
        while (!stop.load()) {
          turns[i].fetch_add(1, std::memory_order_relaxed);
          goro::this_fiber::yield();
        }
        wg.done();
      });
    goro::go([&] {
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
      for (int round = 1;; round++) {
        a.send(1);
        b.recv();
        if (round % 256 == 0 && std::chrono::steady_clock::now() >= until) break;
      }
      stop = true;
      a.close();
      wg.done();
    });
    goro::go([&] {
      while (a.recv()) b.send(1);
      wg.done();
    });
    wg.wait();
  });
  int least = turns[0].load();
  for (auto& t : turns) least = std::min(least, t.load());
  // About 20 slices in 200 ms; 5 turns each leaves room for a slow machine.
  EXPECT_GE(least, 5) << "a queued fiber waited through most of the streak's slices";
}

// With two Ps, two fibers that spin waiting on each other's flag both make
// progress: this only terminates if they truly run at the same time.
TEST_F(Scheduling, TwoProcsRunTwoFibersInParallel) {
  std::atomic<int> a{0}, b{0};
  const int rounds = static_cast<int>(goro_test::scaled(20000));
  goro::run({.procs = 2}, [&] {
    goro::wait_group wg;
    wg.add(2);
    goro::go([&] {
      for (int i = 1; i <= rounds; i++) {
        a.store(i, std::memory_order_release);
        while (b.load(std::memory_order_acquire) < i) {
        }
      }
      wg.done();
    });
    goro::go([&] {
      for (int i = 1; i <= rounds; i++) {
        while (a.load(std::memory_order_acquire) < i) {
        }
        b.store(i, std::memory_order_release);
      }
      wg.done();
    });
    wg.wait();
  });
  EXPECT_EQ(a.load(), rounds);
  EXPECT_EQ(b.load(), rounds);
}

using Migration = goro_test::RuntimeTest;

// With procs > 1, fibers are seen on more than one OS thread over many
// yields, and the runtime's idea of the current fiber stays right.
TEST_P(Migration, FibersMoveBetweenThreadsAndKeepTheirIdentity) {
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::atomic<int> wrong_id{0};
  goro::run(opts(), [&] {
    goro::wait_group wg;
    const int n = 64;
    wg.add(n);
    for (int f = 0; f < n; f++) {
      goro::go([&] {
        const std::uint64_t me = goro::this_fiber::id();
        std::set<std::thread::id> mine;
        for (int i = 0; i < 20000; i++) {
          mine.insert(goro_test::thread_id());
          goro::this_fiber::yield();
          if (goro::this_fiber::id() != me) wrong_id++;
        }
        std::lock_guard<std::mutex> l(mu);
        threads.insert(mine.begin(), mine.end());
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(wrong_id.load(), 0);
  EXPECT_GT(threads.size(), 1u);
}

// Not procs 1: one P runs its fibers on one thread (only a sysmon retake
// would move them), so "more than one thread" would not hold.
INSTANTIATE_TEST_SUITE_P(Procs, Migration, ::testing::Values(2, 4, 8), goro_test::procs_name);

// yield with nothing else runnable returns promptly.
TEST_F(Scheduling, YieldAloneReturns) {
  int n = 0;
  goro::run({.procs = 1}, [&] {
    for (int i = 0; i < 1000; i++) {
      goro::this_fiber::yield();
      n++;
    }
  });
  EXPECT_EQ(n, 1000);
}

}  // namespace

// ---- a fiber short of stack -------------------------------------------------

// Recurses, about 1 KiB of stack per level, until `used` bytes of stack
// lie between `base` and its frame; checks every level's bytes on the way
// back up. At the bottom, echoes `rounds` values from `in` to `out` (each
// exchange parks this fiber and wakes it again).
[[gnu::noinline]] bool deep_echo(const char* base, std::ptrdiff_t used, goro::chan<int>& in, goro::chan<int>& out,
                                 int rounds, int level = 0) {
  volatile char pad[1000];
  for (int i = 0; i < 1000; i++) pad[i] = static_cast<char>(level + i);
  bool ok = true;
  if (base - const_cast<const char*>(&pad[0]) < used) {
    ok = deep_echo(base, used, in, out, rounds, level + 1);
  } else {
    for (int r = 0; r < rounds; r++) out.send(*in.recv() + 1);
  }
  for (int i = 0; i < 1000; i++) ok = ok && pad[i] == static_cast<char>(level + i);
  return ok;
}

using ShortStack = goro_test::RuntimeTest;

// A fiber parked with less stack left than a direct switch wants for the
// runtime's work on top of it (sched/switch.cpp, direct_headroom) is resumed
// through g0 instead: it must wake with its value and its frames intact,
// every time, and never be lost (a lost fiber ends in a deadlock report).
TEST_P(ShortStack, ParkedDeepFiberIsResumedIntact) {
  // Leave less than 6 KiB of a 24 KiB stack (plain), less than 24 KiB of
  // 96 KiB (sanitizers: larger frames, a 32 KiB threshold).
  const std::size_t stack = goro_test::sanitized ? 96 << 10 : 24 << 10;
  const std::ptrdiff_t leave = goro_test::sanitized ? 24 << 10 : 6 << 10;
  const int rounds = static_cast<int>(goro_test::scaled(2000));
  bool intact = false;
  goro::run({.procs = procs(), .throw_on_deadlock = true}, [&] {
    goro::chan<int> in, out;
    goro::wait_group wg;
    wg.add(1);
    goro::go(goro::spawn_options{.stack_size = stack}, [&, in, out]() mutable {
      const char base = 0;  // marks where the fiber's own frames start
      intact = deep_echo(&base, static_cast<std::ptrdiff_t>(stack) - leave, in, out, rounds);
      wg.done();
    });
    for (int r = 0; r < rounds; r++) {
      in.send(r);
      auto v = out.recv();
      ASSERT_TRUE(v);
      ASSERT_EQ(*v, r + 1);
    }
    wg.wait();
  });
  EXPECT_TRUE(intact) << "a frame of the deep fiber was overwritten";
}

GORO_INSTANTIATE_PROCS(ShortStack);
