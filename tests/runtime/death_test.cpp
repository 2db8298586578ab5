// Fatal errors end the process with a clear message: an exception escaping
// a fiber, a stack overflow, a deadlock, a negative wait-group counter.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include "test_util.hpp"

#include <stdexcept>

#include "goro/detail/config.hpp"

namespace {

class Death : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(Death, ExceptionEscapingAFiberNamesItAndWhereItWasCreated) {
  EXPECT_DEATH(goro::run({.procs = 2},
                         [] {
                           goro::wait_group wg;
                           wg.add(1);
                           goro::go([] { throw std::runtime_error("kaboom"); });
                           wg.wait();
                         }),
               "uncaught exception in fiber [0-9]+ \\(created at .*death_test.cpp:[0-9]+.*\n.*"
               "std::runtime_error: kaboom");
}

int recurse(volatile char* p, int depth) {
  volatile char buf[1024];
  buf[0] = static_cast<char>(depth);
  if (depth > 1000000000) return 0;  // never: the stack ends first
  return depth + recurse(buf, depth + 1) + p[0];
}

TEST_F(Death, StackOverflowIsReportedNotSilent) {
#if GORO_ASAN
  GTEST_SKIP() << "AddressSanitizer reports stack overflows itself";
#endif
  EXPECT_DEATH(goro::run({.procs = 1},
                         [] {
                           goro::wait_group wg;
                           wg.add(1);
                           goro::go(goro::spawn_options{.stack_size = 64 << 10}, [&] {
                             char c = 0;
                             recurse(&c, 0);
                             wg.done();
                           });
                           wg.wait();
                         }),
               "stack overflow in fiber [0-9]+ \\(created at .*death_test.cpp");
}

TEST_F(Death, DeadlockIsReportedWithEveryFiber) {
  EXPECT_DEATH(goro::run({.procs = 2},
                         [] {
                           goro::chan<int> never;
                           goro::go([&] { never.recv(); });
                           never.recv();
                         }),
               "all fibers are asleep - deadlock!(.|\n)*fiber 1 \\[chan receive\\](.|\n)*"
               "created at .*death_test.cpp");
}

TEST_F(Death, NegativeWaitGroupCounter) {
  EXPECT_DEATH(goro::run({.procs = 1},
                         [] {
                           goro::wait_group wg;
                           wg.done();
                         }),
               "goro::wait_group::add: negative counter");
}

TEST_F(Death, UnlockOfUnlockedMutex) {
  EXPECT_DEATH(goro::run({.procs = 1},
                         [] {
                           goro::mutex m;
                           m.lock();
                           m.unlock();
                           m.unlock();
                         }),
               "goro::mutex::unlock: unlock of unlocked mutex");
}

TEST_F(Death, UnlockOfUnlockedSharedMutex) {
  EXPECT_DEATH(goro::run({.procs = 1},
                         [] {
                           goro::shared_mutex m;
                           m.unlock_shared();
                         }),
               "unlock of unlocked shared_mutex");
  EXPECT_DEATH(goro::run({.procs = 1},
                         [] {
                           goro::shared_mutex m;
                           m.unlock();
                         }),
               "unlock of unlocked shared_mutex");
}

TEST_F(Death, DeadlockReportNamesMutexWaits) {
  EXPECT_DEATH(goro::run({.procs = 2},
                         [] {
                           goro::mutex a, b;
                           goro::wait_group both;
                           both.add(2);
                           goro::go([&] {
                             a.lock();
                             both.done();
                             both.wait();
                             b.lock();
                           });
                           b.lock();
                           both.done();
                           both.wait();
                           a.lock();
                         }),
               "all fibers are asleep - deadlock!(.|\n)*\\[mutex\\](.|\n)*\\[mutex\\]");
}

}  // namespace
