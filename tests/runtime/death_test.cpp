// Fatal errors end the process with a clear message: an exception escaping
// a fiber, a stack overflow, a deadlock, a negative wait-group counter.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include <goro/goro.hpp>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <iterator>

#include "goro/detail/config.hpp"

namespace {

// The statement of each EXPECT_DEATH runs (and dies) in a child process;
// the leak check runs in the parent, which started no runtime of its own.
class Death : public goro_test::FixedRuntimeTest {
 protected:
  void SetUp() override {
    goro_test::FixedRuntimeTest::SetUp();
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

using Deadlock = goro_test::FixedRuntimeTest;

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
               "all fibers are asleep - deadlock!(.|\n)*fiber 1 \\[chan receive, [0-9]+ ms\\](.|\n)*"
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
               "all fibers are asleep - deadlock!(.|\n)*\\[mutex, [0-9]+ ms\\](.|\n)*\\[mutex, [0-9]+ ms\\]");
}

// The option for tests and embedders: run throws the report instead of
// aborting, and the process (and later runtimes) carry on.
TEST_F(Deadlock, ThrowOptionThrowsTheReport) {
  // The deadlocked runtime keeps its three blocked fibers (Gs and stacks)
  // until the process ends, by design (options::throw_on_deadlock): no
  // leak check for this test.
  allow_kept_stacks();
  std::string what;
  try {
    goro::run({.procs = 2, .throw_on_deadlock = true}, [] {
      goro::chan<int> c;
      goro::mutex a, b;
      goro::wait_group both, started;
      both.add(2);
      started.add(1);
      // The receiver parks before main goes on: done() wakes main into our
      // P's runnext, which runs once recv() has parked us.
      goro::go([&, c]() mutable {
        started.done();
        c.recv();
      });
      started.wait();
      goro::go([&] {
        a.lock();
        both.done();
        both.wait();
        b.lock();
      });
      b.lock();
      both.done();
      both.wait();
      // The receiver has been waiting for a while when the deadlock is found.
      goro::blocking([] { std::this_thread::sleep_for(std::chrono::milliseconds(30)); });
      a.lock();
    });
    ADD_FAILURE() << "run returned";
  } catch (const goro::deadlock_error& e) {
    what = e.what();
  }
  EXPECT_NE(what.find("all fibers are asleep - deadlock!"), std::string::npos) << what;
  EXPECT_NE(what.find("[mutex"), std::string::npos) << what;
  EXPECT_NE(what.find("death_test.cpp"), std::string::npos) << what;
  // Three fibers listed: main, the receiver, the other mutex holder.
  std::size_t fibers = 0;
  for (std::size_t pos = 0; (pos = what.find("\nfiber ", pos)) != std::string::npos; pos++) fibers++;
  EXPECT_EQ(fibers, 3u) << what;
  // How long each has waited: the receiver at least the 30 ms above.
  const std::size_t r = what.find("[chan receive, ");
  ASSERT_NE(r, std::string::npos) << what;
  EXPECT_GE(std::stol(what.substr(r + 15)), 29) << what;
  EXPECT_EQ(goro::run([] { return 3; }), 3);
}

// ---- stdio is flushed before goro ends the process -------------------------
//
// The child sends stdout to a file (freopen: a regular file makes it fully
// buffered), prints a line and dies; abort() alone would drop the buffer.
// The parent then reads the file. The file lives in the test's working
// directory (the build tree), named after the test, so parallel runs of
// different builds do not share it.

std::string flush_file(const char* name) { return std::string("goro-flush-") + name + ".out"; }

void stdout_to(const std::string& path) {
  std::fflush(stdout);
  if (std::freopen(path.c_str(), "w", stdout) == nullptr) std::abort();
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

class FlushBeforeDeath : public Death {
 protected:
  void SetUp() override {
    Death::SetUp();
    path_ = flush_file(::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::remove(path_.c_str());
  }
  void TearDown() override {
    std::remove(path_.c_str());
    Death::TearDown();
  }
  std::string path_;
};

TEST_F(FlushBeforeDeath, Fatal) {
  EXPECT_DEATH(
      {
        stdout_to(path_);
        goro::run({.procs = 2}, [] {
          std::printf("line before fatal\n");
          goro::wait_group wg;
          wg.done();
        });
      },
      "negative counter");
  EXPECT_EQ(read_file(path_), "line before fatal\n");
}

TEST_F(FlushBeforeDeath, UncaughtException) {
  EXPECT_DEATH(
      {
        stdout_to(path_);
        goro::run({.procs = 2}, [] {
          goro::wait_group wg;
          wg.add(1);
          goro::go([] {
            std::printf("line before the exception\n");
            throw std::runtime_error("kaboom");
          });
          wg.wait();
        });
      },
      "uncaught exception");
  EXPECT_EQ(read_file(path_), "line before the exception\n");
}

TEST_F(FlushBeforeDeath, DeadlockReport) {
  EXPECT_DEATH(
      {
        stdout_to(path_);
        goro::run({.procs = 2}, [] {
          std::printf("line before the deadlock\n");
          goro::chan<int> never;
          never.recv();
        });
      },
      "all fibers are asleep");
  EXPECT_EQ(read_file(path_), "line before the deadlock\n");
}

TEST_F(FlushBeforeDeath, StackOverflow) {
#if GORO_ASAN
  GTEST_SKIP() << "AddressSanitizer reports stack overflows itself";
#endif
  EXPECT_DEATH(
      {
        stdout_to(path_);
        goro::run({.procs = 1}, [] {
          goro::wait_group wg;
          wg.add(1);
          goro::go(goro::spawn_options{.stack_size = 64 << 10}, [&] {
            std::printf("line before the overflow\n");
            char c = 0;
            recurse(&c, 0);
            wg.done();
          });
          wg.wait();
        });
      },
      "stack overflow in fiber");
  EXPECT_EQ(read_file(path_), "line before the overflow\n");
}

// Streams other than stdout and stderr (fflush(nullptr), on a helper thread).
TEST_F(FlushBeforeDeath, OtherStreams) {
  EXPECT_DEATH(
      {
        goro::run({.procs = 1}, [this] {
          std::FILE* log = std::fopen(path_.c_str(), "w");
          if (log == nullptr) std::abort();
          std::fprintf(log, "line in a log file\n");
          goro::wait_group wg;
          wg.done();
        });
      },
      "negative counter");
  EXPECT_EQ(read_file(path_), "line in a log file\n");
}

// A thread that holds stdout's lock for good cannot hang the dying process:
// stdout is skipped after a bounded wait, the report still comes.
TEST_F(FlushBeforeDeath, StdoutLockedForGoodDoesNotHang) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_DEATH(
      {
        stdout_to(path_);
        std::promise<void> locked;
        std::thread holder([&] {
          flockfile(stdout);
          locked.set_value();
          for (;;) pause();
        });
        holder.detach();
        locked.get_future().wait();
        goro::run({.procs = 1}, [] {
          goro::wait_group wg;
          wg.done();
        });
      },
      "negative counter");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

}  // namespace
