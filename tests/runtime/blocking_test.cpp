// goro::blocking: a fiber in a blocking call does not hold its P, so the
// other fibers keep running even with procs = 1.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace {

using Blocking = goro_test::FixedRuntimeTest;

TEST_F(Blocking, OtherFibersRunWhileOneBlocksItsThread) {
  std::atomic<int> progressed{0};
  goro::run({.procs = 1}, [&] {
    std::mutex mu;
    std::condition_variable cv;
    bool released = false;
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      // Blocks its OS thread until the fibers below have run; with one P
      // this deadlocks unless the P is handed to another thread.
      goro::blocking([&] {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return released; });
      });
      wg.done();
    });
    goro::this_fiber::yield();  // let it enter the blocking call
    for (int i = 0; i < 100; i++) {
      progressed++;
      goro::this_fiber::yield();
    }
    {
      std::lock_guard<std::mutex> l(mu);
      released = true;
    }
    cv.notify_one();
    wg.wait();
  });
  EXPECT_EQ(progressed.load(), 100);
}

TEST_F(Blocking, ReturnsValuesAndPropagatesExceptions) {
  goro::run({.procs = 2}, [] {
    EXPECT_EQ(goro::blocking([] { return 7; }), 7);
    EXPECT_THROW(goro::blocking([]() -> int { throw std::runtime_error("x"); }), std::runtime_error);
    // Still a working fiber afterwards.
    goro::chan<int> c(1);
    c.send(1);
    EXPECT_EQ(c.recv(), 1);
  });
}

TEST_F(Blocking, ManyFibersBlockingAtOnce) {
  std::atomic<int> done{0};
  goro::run({.procs = 2}, [&] {
    goro::wait_group wg;
    wg.add(50);
    for (int i = 0; i < 50; i++)
      goro::go([&] {
        goro::blocking([] { std::this_thread::sleep_for(std::chrono::milliseconds(2)); });
        for (int k = 0; k < 10; k++) goro::this_fiber::yield();
        done++;
        wg.done();
      });
    wg.wait();
  });
  EXPECT_EQ(done.load(), 50);
}

TEST_F(Blocking, OutsideAFiberThrows) {
  EXPECT_THROW(goro::blocking([] {}), std::logic_error);
}

}  // namespace
