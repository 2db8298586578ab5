// Fiber sync primitives: mutex (incl. starvation mode), shared_mutex,
// condition_variable, call_once, semaphore; with threads outside the
// runtime too.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using goro_test::scaled;

using Sync = goro_test::RuntimeTest;

TEST_P(Sync, MutexMakesIncrementsExclusive) {
  goro::run(opts(), [] {
    const int fibers = 100, per = static_cast<int>(scaled(2000));
    goro::mutex m;
    std::int64_t counter = 0;  // plain: only the mutex protects it
    goro::wait_group wg;
    wg.add(fibers);
    for (int f = 0; f < fibers; f++)
      goro::go([&, f] {
        for (int i = 0; i < per; i++) {
          std::lock_guard<goro::mutex> l(m);
          counter++;
          if ((i + f) % 64 == 0) goro::this_fiber::yield();  // hold it across a switch sometimes
        }
        wg.done();
      });
    wg.wait();
    EXPECT_EQ(counter, std::int64_t(fibers) * per);
  });
}

TEST_P(Sync, TryLockFailsWhileLocked) {
  goro::run(opts(), [] {
    goro::mutex m;
    ASSERT_TRUE(m.try_lock());
    bool other = true;
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      other = m.try_lock();
      wg.done();
    });
    wg.wait();
    EXPECT_FALSE(other);
    m.unlock();
    EXPECT_TRUE(m.try_lock());
    m.unlock();
  });
}

// One fiber takes the lock in a tight loop (yielding while it holds it);
// another that asks once still gets it: starvation mode hands it over.
TEST_P(Sync, MutexStarvationModeLetsAWaiterIn) {
  goro::run(opts(), [] {
    goro::mutex m;
    std::atomic<bool> got{false};
    std::atomic<std::int64_t> hog_rounds{0};
    goro::wait_group wg;
    wg.add(2);
    goro::go([&] {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!got.load() && std::chrono::steady_clock::now() < give_up) {
        m.lock();
        goro::this_fiber::yield();
        m.unlock();
        hog_rounds++;
      }
      wg.done();
    });
    goro::go([&] {
      for (int i = 0; i < 10; i++) goro::this_fiber::yield();  // let the hog start
      m.lock();
      got = true;
      m.unlock();
      wg.done();
    });
    wg.wait();
    EXPECT_TRUE(got.load()) << "the waiter never got the mutex in " << hog_rounds.load() << " rounds";
  });
}

TEST_P(Sync, SharedMutexReadersShareWritersExclude) {
  goro::run(opts(), [] {
    goro::shared_mutex rw;
    constexpr int readers = 8;
    std::atomic<int> inside{0};
    std::atomic<int> max_inside{0};
    goro::wait_group wg;
    wg.add(readers);
    // Every reader waits (bounded) until all are inside at once.
    for (int r = 0; r < readers; r++)
      goro::go([&] {
        {
          std::shared_lock<goro::shared_mutex> l(rw);
          const int now = ++inside;
          int m = max_inside.load();
          while (now > m && !max_inside.compare_exchange_weak(m, now)) {
          }
          // Bounded by time, not by a count of yields: under load a reader's
          // thread may not run for a while.
          const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (max_inside.load() < readers && std::chrono::steady_clock::now() < give_up) goro::this_fiber::yield();
          --inside;
        }
        wg.done();  // after unlocking: done() is our last touch of main's frame
      });
    wg.wait();
    EXPECT_EQ(max_inside.load(), readers);

    // Writers are exclusive, with readers and with each other.
    std::atomic<int> writers_in{0}, readers_in{0};
    std::atomic<bool> bad{false};
    std::int64_t value = 0;
    const int per = static_cast<int>(scaled(3000));
    wg.add(8);
    for (int k = 0; k < 8; k++)
      goro::go([&, k] {
        for (int i = 0; i < per; i++) {
          if ((i + k) % 4 == 0) {
            std::lock_guard<goro::shared_mutex> l(rw);
            if (++writers_in != 1 || readers_in.load() != 0) bad = true;
            value++;
            if (i % 16 == 0) goro::this_fiber::yield();
            --writers_in;
          } else {
            std::shared_lock<goro::shared_mutex> l(rw);
            ++readers_in;
            if (writers_in.load() != 0) bad = true;
            if (i % 16 == 1) goro::this_fiber::yield();
            --readers_in;
          }
        }
        wg.done();
      });
    wg.wait();
    EXPECT_FALSE(bad.load());
    std::int64_t writes = 0;
    for (int k = 0; k < 8; k++)
      for (int i = 0; i < per; i++) writes += (i + k) % 4 == 0;
    EXPECT_EQ(value, writes);
    ASSERT_TRUE(rw.try_lock());
    EXPECT_FALSE(rw.try_lock_shared());
    rw.unlock();
    ASSERT_TRUE(rw.try_lock_shared());
    EXPECT_FALSE(rw.try_lock());
    rw.unlock_shared();
  });
}

// notify_one wakes exactly one waiter, the oldest.
TEST_P(Sync, NotifyOneWakesTheOldestWaiter) {
  goro::run(opts(), [] {
    constexpr int n = 6;
    goro::mutex m;
    goro::condition_variable cv;
    int queued = 0;
    std::vector<int> woken;
    goro::wait_group wg;
    wg.add(n);
    for (int i = 0; i < n; i++) {
      goro::go([&, i] {
        std::unique_lock<goro::mutex> l(m);
        queued++;
        cv.wait(l);  // no predicate: we count wake-ups
        woken.push_back(i);
        l.unlock();  // before done(): m lives in main's frame
        wg.done();
      });
      // Waiter i is queued once `queued` says so (it queues before it
      // releases the mutex).
      for (;;) {
        m.lock();
        const bool in = queued == i + 1;
        m.unlock();
        if (in) break;
        goro::this_fiber::yield();
      }
    }
    for (int k = 0; k < n; k++) {
      cv.notify_one();
      // Wait until the woken one has recorded itself, then check nobody else did.
      for (int spins = 0;; spins++) {
        {
          std::lock_guard<goro::mutex> l(m);
          if (static_cast<int>(woken.size()) > k) break;
        }
        ASSERT_LT(spins, 1000000);
        goro::this_fiber::yield();
      }
      for (int i = 0; i < 50; i++) goro::this_fiber::yield();
      std::lock_guard<goro::mutex> l(m);
      ASSERT_EQ(static_cast<int>(woken.size()), k + 1) << "notify_one woke more than one";
      EXPECT_EQ(woken[k], k) << "not the oldest waiter";
    }
    wg.wait();
  });
}

TEST_P(Sync, NotifyAllWakesEveryWaiterOncePerRound) {
  goro::run(opts(), [] {
    constexpr int n = 16;
    const int rounds = static_cast<int>(scaled(200));
    goro::mutex m;
    goro::condition_variable cv;
    int round = 0, waiting = 0;
    std::vector<int> wakes(n, 0);
    goro::wait_group wg;
    wg.add(n);
    for (int i = 0; i < n; i++)
      goro::go([&, i] {
        std::unique_lock<goro::mutex> l(m);
        for (int r = 1; r <= rounds; r++) {
          waiting++;
          cv.notify_all();  // the driver waits for everyone to be waiting
          cv.wait(l, [&] { return round >= r; });
          wakes[i]++;
        }
        l.unlock();  // before done(): main returns (and m dies) once wg.wait() does
        wg.done();
      });
    std::unique_lock<goro::mutex> l(m);
    for (int r = 1; r <= rounds; r++) {
      cv.wait(l, [&] { return waiting == n * r; });
      round = r;
      cv.notify_all();
    }
    l.unlock();
    wg.wait();
    for (int i = 0; i < n; i++) EXPECT_EQ(wakes[i], rounds);
  });
}

// A bounded queue on a mutex and two condition variables: no lost wake-up
// (which would hang the test) and nothing lost or duplicated.
TEST_P(Sync, ConditionVariableProducerConsumer) {
  goro::run(opts(), [] {
    const int n = static_cast<int>(scaled(50000));
    goro::mutex m;
    goro::condition_variable not_empty, not_full;
    std::vector<int> q;
    std::int64_t sum = 0;
    int received = 0;
    goro::wait_group wg;
    wg.add(8);
    for (int p = 0; p < 4; p++)
      goro::go([&, p] {
        for (int i = p; i < n; i += 4) {
          std::unique_lock<goro::mutex> l(m);
          not_full.wait(l, [&] { return q.size() < 4; });
          q.push_back(i);
          not_empty.notify_one();
        }
        wg.done();
      });
    for (int c = 0; c < 4; c++)
      goro::go([&] {
        for (;;) {
          std::unique_lock<goro::mutex> l(m);
          not_empty.wait(l, [&] { return !q.empty() || received == n; });
          if (q.empty()) break;
          sum += q.back();
          q.pop_back();
          if (++received == n) not_empty.notify_all();
          not_full.notify_one();
        }
        wg.done();
      });
    wg.wait();
    EXPECT_EQ(received, n);
    EXPECT_EQ(sum, std::int64_t(n) * (n - 1) / 2);
  });
}

TEST_P(Sync, CallOnceRunsOnceAndOthersWait) {
  goro::run(opts(), [] {
    for (int round = 0; round < static_cast<int>(scaled(100)); round++) {
      goro::once_flag once;
      std::atomic<int> calls{0};
      bool ready = false;
      std::atomic<int> saw_ready{0};
      goro::wait_group wg;
      wg.add(20);
      for (int i = 0; i < 20; i++)
        goro::go([&] {
          goro::call_once(once, [&] {
            calls++;
            goro::this_fiber::yield();  // others arrive meanwhile and must wait
            ready = true;
          });
          if (ready) saw_ready++;
          wg.done();
        });
      wg.wait();
      EXPECT_EQ(calls.load(), 1);
      EXPECT_EQ(saw_ready.load(), 20);
    }
  });
}

TEST_P(Sync, CallOnceRetriesAfterAnException) {
  goro::run(opts(), [] {
    goro::once_flag once;
    int calls = 0;
    EXPECT_THROW(goro::call_once(once, [&] {
                   calls++;
                   throw std::runtime_error("first");
                 }),
                 std::runtime_error);
    goro::call_once(once, [&](int add) { calls += add; }, 10);
    goro::call_once(once, [&] { calls += 100; });
    EXPECT_EQ(calls, 11);
  });
}

TEST_P(Sync, SemaphoreBoundsConcurrency) {
  goro::run(opts(), [] {
    goro::semaphore sem(3);
    std::atomic<int> inside{0}, max_inside{0};
    goro::wait_group wg;
    wg.add(20);
    for (int f = 0; f < 20; f++)
      goro::go([&] {
        for (int i = 0; i < static_cast<int>(scaled(500)); i++) {
          sem.acquire();
          const int now = ++inside;
          int m = max_inside.load();
          while (now > m && !max_inside.compare_exchange_weak(m, now)) {
          }
          goro::this_fiber::yield();
          --inside;
          sem.release();
        }
        wg.done();
      });
    wg.wait();
    EXPECT_LE(max_inside.load(), 3);
    EXPECT_GE(max_inside.load(), 1);
    // try_acquire takes exactly the units there are.
    EXPECT_TRUE(sem.try_acquire());
    EXPECT_TRUE(sem.try_acquire());
    EXPECT_TRUE(sem.try_acquire());
    EXPECT_FALSE(sem.try_acquire());
    sem.release(3);
    EXPECT_TRUE(sem.try_acquire());
  });
}

GORO_INSTANTIATE_PROCS(Sync);

using SyncThreads = goro_test::FixedRuntimeTest;

// Threads outside the runtime and fibers share one goro::mutex.
TEST_F(SyncThreads, ThreadsAndFibersShareAMutex) {
  goro::run({.procs = 2}, [] {
    const int per = static_cast<int>(scaled(20000));
    goro::mutex m;
    std::int64_t counter = 0;
    std::vector<std::thread> ts;
    goro::wait_group wg;
    wg.add(4 + 2);
    for (int t = 0; t < 2; t++)
      ts.emplace_back([&, ka = goro::keep_alive()]() mutable {
        for (int i = 0; i < per; i++) {
          std::lock_guard<goro::mutex> l(m);
          counter++;
        }
        wg.done();
        ka.reset();
      });
    for (int f = 0; f < 4; f++)
      goro::go([&] {
        for (int i = 0; i < per; i++) {
          std::lock_guard<goro::mutex> l(m);
          counter++;
        }
        wg.done();
      });
    wg.wait();
    for (auto& t : ts) t.join();
    EXPECT_EQ(counter, std::int64_t(per) * 6);
  });
}

}  // namespace
