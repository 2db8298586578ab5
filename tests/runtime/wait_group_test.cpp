// wait_group: waits for the counter to reach zero, wakes every waiter, and
// may be destroyed as soon as wait() returns.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <memory>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using WaitGroup = goro_test::RuntimeTest;

TEST_P(WaitGroup, WaitReturnsAtOnceAtZero) {
  goro::run(opts(), [] {
    goro::wait_group wg;
    wg.wait();
    EXPECT_EQ(wg.count(), 0);
  });
}

TEST_P(WaitGroup, WakesEveryWaiterAfterAllWorkIsDone) {
  std::atomic<int> work{0}, after{0}, bad{0};
  goro::run(opts(), [&] {
    goro::wait_group wg, waiters;
    wg.add(100);
    waiters.add(10);
    for (int i = 0; i < 10; i++)
      goro::go([&] {
        wg.wait();
        if (work.load() != 100) bad++;
        after++;
        waiters.done();
      });
    for (int i = 0; i < 100; i++)
      goro::go([&] {
        goro::this_fiber::yield();
        work++;
        wg.done();
      });
    waiters.wait();
  });
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(after.load(), 10);
}

// The waiter destroys the wait group right after wait() returns while the
// last done() may still be running: must not touch freed memory (ASan).
TEST_P(WaitGroup, SafeToDestroyRightAfterWait) {
  const int rounds = static_cast<int>(goro_test::scaled(20000));
  std::atomic<int> done_before_wait_returned{0};
  goro::run(opts(), [&] {
    std::atomic<int> dones{0};
    for (int r = 0; r < rounds; r++) {
      auto wg = std::make_unique<goro::wait_group>();
      wg->add(2);
      goro::wait_group* p = wg.get();
      goro::go([p, &dones] {
        dones++;
        p->done();
      });
      goro::go([p, &dones] {
        dones++;
        p->done();
      });
      wg->wait();
      if (dones.load() == 2 * (r + 1)) done_before_wait_returned++;
      wg.reset();  // the second done() may still be inside add(): ASan checks it stays out
    }
  });
  EXPECT_EQ(done_before_wait_returned.load(), rounds);
}

TEST_P(WaitGroup, Reusable) {
  int total = 0;
  goro::run(opts(), [&] {
    goro::wait_group wg;
    for (int round = 0; round < 100; round++) {
      std::atomic<int> n{0};
      wg.add(5);
      for (int i = 0; i < 5; i++)
        goro::go([&] {
          n++;
          wg.done();
        });
      wg.wait();
      total += n.load();
    }
  });
  EXPECT_EQ(total, 500);
}

GORO_INSTANTIATE_PROCS(WaitGroup);

}  // namespace
