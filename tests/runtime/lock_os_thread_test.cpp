// goro::this_fiber::lock_os_thread: a locked fiber runs only on its thread,
// that thread runs nothing else, the others keep running while it blocks,
// and a fiber that ends locked retires its thread (never run()'s caller's).
#include <gtest/gtest.h>

#include <dirent.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <goro/goro.hpp>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using LockOSThread = goro_test::RuntimeTest;
GORO_INSTANTIATE_PROCS(LockOSThread);
using LockOSThreadFixed = goro_test::FixedRuntimeTest;

thread_local int tls_probe;

// Fresh reads (see test_util.hpp): never a value from before a switch.
[[gnu::noinline]] const void* tls_address() {
  asm volatile("");
  return &tls_probe;
}
[[gnu::noinline]] std::uint64_t self() {
  asm volatile("");
  return static_cast<std::uint64_t>(pthread_self());
}

// Threads of this process. The baseline is taken after one runtime has come
// and gone: ThreadSanitizer starts a thread of its own when the process
// creates its first thread.
int task_count() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') n++;
    closedir(d);
  }
  return n;
}

// Fibers that keep the other threads busy until told to stop.
struct busy_fibers {
  std::atomic<bool> stop{false};
  goro::wait_group wg;
  void start(int n) {
    for (int i = 0; i < n; i++) {
      wg.add(1);
      goro::go([this] {
        while (!stop.load(std::memory_order_relaxed)) goro::this_fiber::yield();
        wg.done();
      });
    }
  }
  void finish() {
    stop = true;
    wg.wait();
  }
};

// The same thread and the same thread_local across yields and channel
// operations, while other fibers run (and would take the locked fiber's
// place on its thread, or it theirs, if the lock did not hold).
TEST_P(LockOSThread, StaysOnItsThreadAcrossYieldsAndChannelOps) {
  const int ops = 1000;
  std::atomic<int> moved{0};
  goro::run(opts(), [&] {
    busy_fibers busy;
    busy.start(4);
    goro::chan<int> to, from;
    goro::go([&] {
      while (auto v = to.recv()) from.send(*v + 1);
    });
    goro::wait_group done;
    for (int f = 0; f < 2; f++) {
      done.add(1);
      goro::go([&] {
        goro::this_fiber::lock_os_thread();
        const std::uint64_t tid = self();
        const void* tls = tls_address();
        for (int i = 0; i < ops; i++) {
          if (i % 100 == 99) {
            goro::this_fiber::sleep_for(std::chrono::microseconds(20));  // a timer readies it
          } else if (i % 2) {
            goro::this_fiber::yield();
          } else {
            to.send(i);
            if (*from.recv() != i + 1) moved += 1000;
          }
          if (self() != tid || tls_address() != tls) moved++;
        }
        goro::this_fiber::unlock_os_thread();
        done.done();
      });
    }
    done.wait();
    to.close();
    busy.finish();
  });
  EXPECT_EQ(moved.load(), 0);
}

// Nobody else runs on a thread while a fiber holds it locked: every fiber
// checks, after each switch, whether it landed on a thread some fiber has
// locked. The locked fibers publish their thread only while locked.
TEST_P(LockOSThread, NoOtherFiberRunsOnALockedThread) {
  const int rounds = static_cast<int>(goro_test::scaled(40, 4));
  std::atomic<int> violations{0};
  std::atomic<std::uint64_t> locked_tid[2] = {0, 0};
  goro::run(opts(), [&] {
    std::atomic<bool> stop{false};
    goro::wait_group watchers;
    for (int i = 0; i < 6; i++) {
      watchers.add(1);
      goro::go([&] {
        while (!stop.load(std::memory_order_relaxed)) {
          goro::this_fiber::yield();
          const std::uint64_t me = self();
          for (auto& t : locked_tid)
            if (t.load(std::memory_order_relaxed) == me) violations++;
        }
        watchers.done();
      });
    }
    goro::chan<int> c(1);
    goro::mutex mu;
    for (int r = 0; r < rounds; r++) {
      goro::wait_group lockers;
      for (int k = 0; k < 2; k++) {
        lockers.add(1);
        goro::go([&, k] {
          goro::this_fiber::lock_os_thread();
          locked_tid[k].store(self(), std::memory_order_relaxed);
          for (int i = 0; i < 60; i++) {
            if (i % 3 == 2) {
              std::lock_guard<goro::mutex> l(mu);  // the other locker may hold it
              goro::this_fiber::yield();
            } else if (i % 3 == 1) {
              goro::this_fiber::yield();
            } else {
              c.send(i);
              c.recv();
            }
          }
          locked_tid[k].store(0, std::memory_order_relaxed);
          goro::this_fiber::unlock_os_thread();
          lockers.done();
        });
      }
      lockers.wait();
    }
    stop = true;
    watchers.wait();
  });
  EXPECT_EQ(violations.load(), 0);
}

// procs = 1: while the locked fiber is blocked its thread holds no P, so
// the other fibers run; each round fails by hanging (ctest's time bound)
// if the blocked fiber's thread kept the only P.
TEST_F(LockOSThreadFixed, BlockedLockedFiberLetsOthersRunWithOneProc) {
  const int rounds = static_cast<int>(goro_test::scaled(300));
  std::atomic<int> moved{0}, progress{0};
  goro::run({.procs = 1}, [&] {
    goro::chan<int> c;
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      goro::this_fiber::lock_os_thread();
      const std::uint64_t tid = self();
      for (int r = 0; r < rounds; r++) {
        const int v = *c.recv();  // blocks: the counter below runs meanwhile
        if (v != (r + 1) * 100) moved += 1000;
        if (self() != tid) moved++;
      }
      wg.done();
    });
    for (int r = 0; r < rounds; r++) {
      for (int i = 0; i < 100; i++) {
        progress++;
        goro::this_fiber::yield();
      }
      c.send(progress.load());
    }
    wg.wait();
  });
  EXPECT_EQ(moved.load(), 0);
  EXPECT_EQ(progress.load(), rounds * 100);
}

// Fibers that end while locked take their threads with them: the count of
// threads stays bounded while they come and go, and is back where it was
// once run returns (every M joined).
TEST_P(LockOSThread, FiberEndingLockedRetiresItsThread) {
  const int fibers = static_cast<int>(goro_test::scaled(200, 4));
  goro::run(opts(), [] {});
  const int before = task_count();
  int max_seen = 0;
  std::atomic<int> ran{0};
  goro::run(opts(), [&] {
    busy_fibers busy;
    busy.start(2);
    goro::chan<int> c(1);
    for (int i = 0; i < fibers; i++) {
      goro::wait_group wg;
      wg.add(1);
      goro::go([&] {
        goro::this_fiber::lock_os_thread();
        goro::this_fiber::lock_os_thread();  // nested: still locked at the end
        goro::this_fiber::unlock_os_thread();
        c.send(1);
        goro::this_fiber::yield();
        c.recv();
        ran++;
        wg.done();
      });
      wg.wait();
      max_seen = std::max(max_seen, task_count());
    }
    busy.finish();
  });
  EXPECT_EQ(ran.load(), fibers);
  // m0, procs Ms, sysmon, the spare-M thread and its spares, Ms idle after
  // handing a P on, retiring threads on their way out: it stays near
  // procs + 4 (7 at procs = 4 here), with spikes when the machine is busy.
  // A retired thread that did not exit would add one per fiber.
  EXPECT_LE(max_seen, before + 2 * procs() + 12);
  EXPECT_EQ(task_count(), before);
}

// The main fiber ends locked on run()'s own thread: that thread must not
// exit. It runs no fiber until the others are done, then run returns on it.
TEST_P(LockOSThread, MainFiberEndingLockedKeepsRunsThread) {
  const std::uint64_t caller = self();
  goro::run(opts(), [] {});
  const int before = task_count();
  std::atomic<int> finished{0};
  std::atomic<int> on_caller{0};
  const int fibers = 50;
  goro::run(opts(), [&] {
    goro::this_fiber::lock_os_thread();
    const std::uint64_t main_tid = self();
    goro::chan<int> c(fibers);
    for (int i = 0; i < fibers; i++) {
      goro::go([&, c, main_tid]() mutable {
        // Still running after main returned; never on main's locked thread.
        for (int k = 0; k < 20; k++) {
          goro::this_fiber::yield();
          if (self() == main_tid) on_caller++;
        }
        finished++;
        c.send(1);
      });
    }
    c.recv();  // blocks while locked; then main returns, still locked
  });
  EXPECT_EQ(self(), caller);
  EXPECT_EQ(finished.load(), fibers);
  EXPECT_EQ(on_caller.load(), 0);
  EXPECT_EQ(task_count(), before);
  EXPECT_EQ(goro::run(opts(), [] { return 7; }), 7);  // the thread is still a good run() caller
}

// Nesting counts; unlock without lock is a no-op; outside a fiber, an error.
TEST_P(LockOSThread, NestingAndMisuse) {
  std::atomic<int> moved{0};
  goro::run(opts(), [&] {
    busy_fibers busy;
    busy.start(procs());
    goro::this_fiber::unlock_os_thread();  // not locked: nothing happens
    goro::this_fiber::lock_os_thread();
    goro::this_fiber::lock_os_thread();
    goro::this_fiber::lock_os_thread();
    goro::this_fiber::unlock_os_thread();
    goro::this_fiber::unlock_os_thread();
    const std::uint64_t tid = self();
    for (int i = 0; i < 300; i++) {  // one lock left
      goro::this_fiber::yield();
      if (self() != tid) moved++;
    }
    goro::this_fiber::unlock_os_thread();
    goro::this_fiber::unlock_os_thread();  // one too many: nothing happens
    for (int i = 0; i < 100; i++) goro::this_fiber::yield();
    busy.finish();
  });
  EXPECT_EQ(moved.load(), 0);
  EXPECT_THROW(goro::this_fiber::lock_os_thread(), std::logic_error);
  EXPECT_THROW(goro::this_fiber::unlock_os_thread(), std::logic_error);
}

// A locked fiber inside goro::blocking, and one that computes without
// yielding long enough for sysmon to take its P (procs = 1: the other
// fiber runs meanwhile, on another thread): both stay on their thread.
TEST_F(LockOSThreadFixed, BlockingCallsAndRetakeKeepTheThread) {
  std::atomic<int> moved{0};
  std::atomic<long> progress{0};
  std::atomic<bool> progressed_while_hogging{false};
  goro::run({.procs = 1}, [&] {
    std::atomic<bool> stop{false};
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        progress++;
        goro::this_fiber::yield();
      }
      wg.done();
    });
    goro::this_fiber::lock_os_thread();
    const std::uint64_t tid = self();
    for (int i = 0; i < 20; i++) {
      goro::blocking([] { usleep(500); });
      if (self() != tid) moved++;
      goro::this_fiber::yield();
      if (self() != tid) moved++;
    }
    // Hog the P (no runtime call) until the other fiber has run meanwhile,
    // which needs sysmon to hand the P to another thread; bounded.
    const long start = progress.load();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (progress.load() > start + 10) {
        progressed_while_hogging = true;
        break;
      }
    }
    if (self() != tid) moved++;
    goro::this_fiber::yield();
    if (self() != tid) moved++;
    stop = true;
    wg.wait();
    if (self() != tid) moved++;
  });
  EXPECT_EQ(moved.load(), 0);
  EXPECT_TRUE(progressed_while_hogging.load());
}

// A locked fiber blocked forever is part of a deadlock: its M, asleep for
// it, is not a running M (and the end of the runtime wakes it to exit).
TEST_F(LockOSThreadFixed, LockedFiberInADeadlockIsReported) {
  allow_kept_stacks();  // throw_on_deadlock keeps the blocked fibers' stacks
  std::string what;
  try {
    goro::run({.procs = 2, .throw_on_deadlock = true}, [] {
      goro::chan<int> never, started;
      goro::go([&] {
        goro::this_fiber::lock_os_thread();
        started.send(1);
        never.recv();
      });
      started.recv();
      never.recv();
    });
  } catch (const goro::deadlock_error& e) {
    what = e.what();
  }
  EXPECT_NE(what.find("all fibers are asleep"), std::string::npos) << what;
  EXPECT_EQ(goro::run([] { return 3; }), 3);
}

// Main returns while locked fibers are still blocked forever: they are
// unwound like any leftover (each on its own thread, which then retires),
// and run returns with every thread gone.
TEST_P(LockOSThread, LockedLeftoversAreUnwound) {
  goro::run(opts(), [] {});
  const int before = task_count();
  std::atomic<int> unwound{0}, moved{0};
  for (int round = 0; round < 5; round++) {
    goro::run(opts(), [&] {
      goro::chan<int> never, started;
      for (int i = 0; i < 3; i++) {
        goro::go([&, never, started]() mutable {
          goro::this_fiber::lock_os_thread();
          const std::uint64_t tid = self();
          struct on_unwind {
            std::atomic<int>& n;
            std::atomic<int>& moved;
            std::uint64_t tid;
            ~on_unwind() {
              if (self() != tid) moved++;
              n++;
            }
          } guard{unwound, moved, tid};
          started.send(1);
          never.recv();  // never returns: cancelled once main has returned
        });
      }
      for (int i = 0; i < 3; i++) started.recv();
    });
  }
  EXPECT_EQ(unwound.load(), 15);
  EXPECT_EQ(moved.load(), 0);
  EXPECT_EQ(task_count(), before);
}

}  // namespace
