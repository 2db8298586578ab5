// Threads outside the runtime that use its channels and sync objects count
// as possible wakers until they exit (sched/outside.hpp): a fiber waiting
// on such a thread is never reported as a deadlock, and a real deadlock is
// still reported once the thread has gone.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <chrono>
#include <thread>

#include "debug/checkdead.hpp"
#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

class OutsideThread : public goro_test::RuntimeTestWithParam<int> {};

// The main fiber receives 1,000 values from a std::thread over an
// unbuffered channel, then sends it 100 back: it parks between the
// thread's sends (every M idle) with no keep_alive anywhere.
TEST_P(OutsideThread, ExchangeWithAThreadIsNeverADeadlock) {
  const int rounds = static_cast<int>(goro_test::scaled(1000, 20));
  long checked = 0;
  goro::run({.procs = GetParam()}, [&] {
    for (int r = 0; r < rounds; r++) {
      goro::chan<int> to_main, to_thread;
      long from_main = 0;
      std::thread t([&] {
        for (int i = 0; i < 1000; i++) to_main.send(i);
        for (int i = 0; i < 100; i++) from_main += *to_thread.recv();
      });
      long sum = 0;
      for (int i = 0; i < 1000; i++) sum += *to_main.recv();
      for (int i = 0; i < 100; i++) to_thread.send(i);
      goro::blocking([&] { t.join(); });
      EXPECT_EQ(sum, 999L * 1000 / 2);
      EXPECT_EQ(from_main, 99L * 100 / 2);
      checked++;
    }
  });
  EXPECT_EQ(checked, rounds);
}

// A sync object is enough to count: the thread's first use is a
// wait_group::done that wakes nobody yet, then it locks and unlocks a
// mutex main waits for.
TEST_P(OutsideThread, SyncObjectsCountToo) {
  goro::run({.procs = GetParam()}, [&] {
    for (int r = 0; r < static_cast<int>(goro_test::scaled(200, 10)); r++) {
      goro::wait_group started;
      goro::mutex mu;
      goro::chan<int> release;
      started.add(1);
      mu.lock();
      std::thread t([&] {
        started.done();
        release.recv();  // main parks on mu meanwhile
        mu.unlock();
      });
      started.wait();
      goro::go([&] { release.send(1); });
      mu.lock();  // handed over by the thread (unlock by a non-owner is allowed, as in Go)
      mu.unlock();
      goro::blocking([&] { t.join(); });
    }
  });
}

// A thread that has used the channel and then works (here: sleeps) far
// longer than the deadlock check's grace period between two sends: it
// counts because it has used the channel, not because it is quick.
TEST_P(OutsideThread, SlowThreadBetweenUsesStillCounts) {
  int got = 0;
  goro::run({.procs = GetParam()}, [&] {
    goro::chan<int> c;
    std::thread t([&] {
      c.send(1);
      std::this_thread::sleep_for(std::chrono::nanoseconds(2 * goro::rt::deadlock_grace_ns));
      c.send(2);
    });
    got += *c.recv();
    got += *c.recv();  // every M idles here for twice the grace period
    goro::blocking([&] { t.join(); });
  });
  EXPECT_EQ(got, 3);
}

// A thread a fiber has just created, that has not used the channel yet:
// the runtime cannot know it will, so the deadlock is only suspected while
// the process has threads the runtime did not make, and the report waits
// for a grace period in which no fiber ran. A thread that starts using the
// runtime's objects later than that needs a goro::keep_alive.
TEST_P(OutsideThread, NewThreadGetsAGracePeriodBeforeItsFirstUse) {
  int got = 0;
  goro::run({.procs = GetParam()}, [&] {
    goro::chan<int> c;
    std::thread t([&] {
      std::this_thread::sleep_for(std::chrono::nanoseconds(goro::rt::deadlock_grace_ns / 5));
      c.send(7);
    });
    got = *c.recv();
    goro::blocking([&] { t.join(); });
  });
  EXPECT_EQ(got, 7);
}

INSTANTIATE_TEST_SUITE_P(Procs, OutsideThread, ::testing::Values(1, 2), goro_test::procs_name);

class OutsideThreadDeath : public goro_test::FixedRuntimeTest {
 protected:
  void SetUp() override {
    goro_test::FixedRuntimeTest::SetUp();
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

// The thread sends one value and exits while main waits for a second: its
// exit re-runs the deadlock check, which reports.
TEST_F(OutsideThreadDeath, DeadlockIsReportedWhenTheThreadExits) {
  EXPECT_DEATH(goro::run({.procs = 2},
                         [] {
                           goro::chan<int> c;
                           std::thread([c]() mutable { c.send(1); }).detach();
                           c.recv();
                           c.recv();
                         }),
               "all fibers are asleep - deadlock!(.|\n)*fiber 1 \\[chan receive");
}

// A thread that used a channel and has been joined counts no more.
TEST_F(OutsideThreadDeath, DeadlockAfterTheThreadWasJoinedIsReported) {
  EXPECT_DEATH(goro::run({.procs = 2},
                         [] {
                           goro::chan<int> c(1);
                           std::thread t([c]() mutable { c.send(1); });
                           goro::blocking([&] { t.join(); });
                           c.recv();
                           c.recv();
                         }),
               "all fibers are asleep - deadlock!(.|\n)*fiber 1 \\[chan receive");
}

}  // namespace
