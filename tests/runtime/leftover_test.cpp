// Fibers left blocked when main returns (options::leftovers): by default
// each one's blocking operation throws goro::fiber_cancelled, its
// destructors run, and run() returns main's result; nothing leaks (the
// fixture's leak check, and LeakSanitizer in the ASan build). The owners
// of the queues they were on (channels, mutexes, ...) are left consistent,
// which the tests check by using them again from a later runtime.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <type_traits>
#include <vector>

#include <goro/goro.hpp>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

static_assert(!std::is_base_of_v<std::exception, goro::fiber_cancelled>,
              "fiber_cancelled must not be caught by catch (const std::exception&)");

class Leftover : public goro_test::RuntimeTestWithParam<int> {
 protected:
  int procs() const { return GetParam(); }
  goro::options opts() const { return {.procs = procs()}; }
};

INSTANTIATE_TEST_SUITE_P(Procs, Leftover, ::testing::Values(1, 4), ::goro_test::procs_name);

// Counts live objects, and bytes a container holds through count_alloc.
struct counts {
  std::atomic<long> objects{0};
  std::atomic<long> bytes{0};
};
counts g_counts;

struct tracked {
  tracked() { g_counts.objects.fetch_add(1, std::memory_order_relaxed); }
  tracked(const tracked&) { g_counts.objects.fetch_add(1, std::memory_order_relaxed); }
  ~tracked() { g_counts.objects.fetch_sub(1, std::memory_order_relaxed); }
};

template <class T>
struct count_alloc {
  using value_type = T;
  count_alloc() = default;
  template <class U>
  count_alloc(const count_alloc<U>&) noexcept {}
  T* allocate(std::size_t n) {
    g_counts.bytes.fetch_add(static_cast<long>(n * sizeof(T)), std::memory_order_relaxed);
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    g_counts.bytes.fetch_sub(static_cast<long>(n * sizeof(T)), std::memory_order_relaxed);
    std::allocator<T>().deallocate(p, n);
  }
  friend bool operator==(const count_alloc&, const count_alloc&) { return true; }
};

std::vector<int> first_primes(int n) {
  std::vector<int> p;
  for (int v = 2; static_cast<int>(p.size()) < n; v++) {
    bool prime = true;
    for (int q : p)
      if (v % q == 0) prime = false;
    if (prime) p.push_back(v);
  }
  return p;
}

// Go's concurrent prime sieve: main takes n primes and returns, leaving the
// generator and every filter blocked on a send or a receive.
TEST_P(Leftover, PrimeSieveReturnsWithFiftyFiltersLeftBlocked) {
  constexpr int n = 50;
  const std::vector<int> want = first_primes(n);
  // Under TSan every check waits out the 250 ms grace period (TSan's own
  // thread is one the runtime does not know): fewer rounds there.
  const int rounds = static_cast<int>(goro_test::scaled(20, 4));
  for (int round = 0; round < rounds; round++) {
    const std::vector<int> got = goro::run(opts(), [] {
      std::vector<int> primes;
      goro::chan<int> ch;
      goro::go([ch]() mutable {
        for (int i = 2;; i++) ch.send(i);
      });
      for (int i = 0; i < n; i++) {
        const int prime = *ch.recv();
        primes.push_back(prime);
        goro::chan<int> next;
        goro::go([in = ch, out = next, prime]() mutable {
          for (;;) {
            const int v = *in.recv();
            if (v % prime != 0) out.send(v);
          }
        });
        ch = next;
      }
      return primes;
    });
    ASSERT_EQ(got, want) << "round " << round;
  }
}

// "First reply wins": the nine slower senders stay blocked on the channel.
TEST_P(Leftover, FirstReplyWinsLeavesTheLosersBlocked) {
  std::atomic<int> unwound{0};
  const int rounds = static_cast<int>(goro_test::scaled(20, 4));
  for (int round = 0; round < rounds; round++) {
    unwound.store(0);
    const int first = goro::run(opts(), [&] {
      goro::chan<int> replies;
      for (int i = 0; i < 10; i++)
        goro::go([replies, i, &unwound]() mutable {
          struct on_unwind {
            std::atomic<int>& n;
            ~on_unwind() {
              if (std::uncaught_exceptions() > 0) n.fetch_add(1);
            }
          } mark{unwound};
          replies.send(i);
        });
      return *replies.recv();
    });
    EXPECT_GE(first, 0);
    EXPECT_LT(first, 10);
    EXPECT_EQ(unwound.load(), 9) << "round " << round;
  }
}

// The leftover's destructors run: its vector's memory is freed and its
// lock_guard releases the mutex.
TEST_P(Leftover, DestructorsRunAndLocksAreReleased) {
  goro::mutex m;  // outlives both runtimes
  goro::chan<int> never;
  ASSERT_EQ(g_counts.objects.load(), 0);
  ASSERT_EQ(g_counts.bytes.load(), 0);
  goro::run(opts(), [&] {
    goro::chan<int> locked(1);
    goro::go([&m, never, locked]() mutable {
      std::vector<tracked, count_alloc<tracked>> v(1000);
      std::lock_guard<goro::mutex> g(m);
      locked.send(1);
      never.recv();
      ADD_FAILURE() << "never.recv() returned";
    });
    locked.recv();  // the fiber holds m
    EXPECT_GT(g_counts.bytes.load(), 0);
  });
  EXPECT_EQ(g_counts.objects.load(), 0) << "the vector's elements were not destroyed";
  EXPECT_EQ(g_counts.bytes.load(), 0) << "the vector's memory was not freed";
  goro::run(opts(), [&] {
    EXPECT_TRUE(m.try_lock()) << "the lock_guard did not release the mutex";
    m.unlock();
    // Nobody is left on the channel's queue: a send finds no receiver.
    EXPECT_FALSE(never.try_send(1));
  });
}

// Every kind of blocking operation is unwound and leaves its object usable.
TEST_P(Leftover, EveryBlockingOperationIsUnwound) {
  goro::mutex mu, held;
  goro::condition_variable cv;
  goro::wait_group wg;
  goro::shared_mutex rw;
  goro::semaphore sem(0);
  goro::chan<int> a, b, never;
  std::atomic<int> cancelled_in{0};  // one bit per operation
  auto note = [&](int bit) { cancelled_in.fetch_or(1 << bit); };
  goro::run(opts(), [&] {
    goro::chan<int> ready(16);
    // cv.wait with a unique_lock: the lock is held again when the
    // exception leaves wait (the unique_lock then releases it).
    goro::go([&, ready]() mutable {
      std::unique_lock<goro::mutex> lk(mu);
      ready.send(0);
      try {
        cv.wait(lk, [] { return false; });
      } catch (const goro::fiber_cancelled&) {
        EXPECT_TRUE(lk.owns_lock());
        note(0);
        throw;
      }
    });
    // A mutex held by one leftover, wanted by three others.
    goro::go([&, ready]() mutable {
      std::lock_guard<goro::mutex> g(held);
      ready.send(1);
      never.recv();
    });
    ready.recv();
    ready.recv();
    for (int i = 0; i < 3; i++)
      goro::go([&] {
        try {
          held.lock();
        } catch (const goro::fiber_cancelled&) {
          note(1);
          throw;
        }
        ADD_FAILURE() << "got the mutex its holder never released";
        held.unlock();
      });
    wg.add(1);
    goro::go([&] {
      try {
        wg.wait();
      } catch (const goro::fiber_cancelled&) {
        note(2);
        throw;
      }
    });
    goro::go([a, b, &note]() mutable {
      try {
        goro::select(goro::on_recv(a), goro::on_recv(b));
      } catch (const goro::fiber_cancelled&) {
        note(3);
        throw;
      }
    });
    // shared_mutex: a writer holds it; a reader waits behind it.
    goro::go([&, ready]() mutable {
      std::lock_guard<goro::shared_mutex> g(rw);
      ready.send(2);
      never.recv();
    });
    ready.recv();
    goro::go([&] {
      try {
        std::shared_lock<goro::shared_mutex> s(rw);
      } catch (const goro::fiber_cancelled&) {
        note(4);
        throw;
      }
    });
    goro::go([&] {
      try {
        sem.acquire();
      } catch (const goro::fiber_cancelled&) {
        note(5);
        throw;
      }
    });
    goro::go([&] {
      try {
        goro::chan<int> nil(nullptr);
        nil.recv();
      } catch (const goro::fiber_cancelled&) {
        note(6);
        throw;
      }
    });
    goro::go([&] {
      try {
        goro::select();
      } catch (const goro::fiber_cancelled&) {
        note(7);
        throw;
      }
    });
  });
  EXPECT_EQ(cancelled_in.load(), 0xff);
  // Every object is consistent: nobody queued, nothing counted or held.
  goro::run(opts(), [&] {
    EXPECT_TRUE(mu.try_lock());
    mu.unlock();
    EXPECT_TRUE(held.try_lock());
    held.unlock();
    held.lock();  // a waiter still counted would make these take the slow paths
    held.unlock();
    EXPECT_TRUE(rw.try_lock()) << "a cancelled reader or writer is still counted";
    rw.unlock();
    EXPECT_TRUE(rw.try_lock_shared());
    rw.unlock_shared();
    EXPECT_FALSE(a.try_send(1)) << "the select's waiter is still queued on a";
    EXPECT_FALSE(b.try_send(1)) << "the select's waiter is still queued on b";
    EXPECT_FALSE(sem.try_acquire());
    sem.release();  // a waiter still queued would take the unit
    EXPECT_TRUE(sem.try_acquire());
    cv.notify_all();
    wg.done();  // counter 0: wakes nobody, no waiter registered
    wg.wait();
  });
}

// A writer waiting for a reader inside, and a reader queued behind that
// writer, all left blocked.
TEST_P(Leftover, SharedMutexWriterWaitingForReadersIsUnwound) {
  goro::shared_mutex rw;
  goro::chan<int> never;
  std::atomic<int> writer_cancelled{0};
  goro::run(opts(), [&] {
    goro::chan<int> ready(1);
    goro::go([&, ready]() mutable {
      std::shared_lock<goro::shared_mutex> s(rw);
      ready.send(0);
      never.recv();
    });
    ready.recv();
    goro::go([&] {
      try {
        rw.lock();
      } catch (const goro::fiber_cancelled&) {
        writer_cancelled.fetch_add(1);
        throw;
      }
      rw.unlock();
    });
    goro::go([&] {
      std::shared_lock<goro::shared_mutex> s(rw);
    });
  });
  EXPECT_EQ(writer_cancelled.load(), 1);
  goro::run(opts(), [&] {
    EXPECT_TRUE(rw.try_lock());
    rw.unlock();
    EXPECT_TRUE(rw.try_lock_shared());
    rw.unlock_shared();
    rw.lock();
    rw.unlock();
  });
}

// A channel whose last handle goes while leftovers wait on it (its
// destructor orphans their waiters): unwinding them never touches it (ASan
// would report the freed channel), and the select still withdraws from the
// channel that lives on.
TEST_P(Leftover, ChannelDestroyedWhileLeftoversWaitOnIt) {
  goro::chan<int> other;  // outlives the runtime
  goro::run(opts(), [&] {
    auto* sent_on = new goro::chan<int>();
    auto* selected_on = new goro::chan<int>();
    goro::go([sent_on] { sent_on->send(1); });
    goro::go([selected_on, other]() mutable { goro::select(goro::on_recv(*selected_on), goro::on_recv(other)); });
    // Both parties queued (runtime internals, for the test only).
    auto queued = [](goro::detail::chan_core* c, bool send) {
      c->lock.lock();
      const bool q = !(send ? c->sendq : c->recvq).empty();
      c->lock.unlock();
      return q;
    };
    while (!queued(sent_on->core(), true) || !queued(selected_on->core(), false) || !queued(other.core(), false))
      goro::this_fiber::yield();
    delete sent_on;  // the last handles
    delete selected_on;
  });
  goro::run(opts(), [&] { EXPECT_FALSE(other.try_send(1)) << "the select's waiter is still queued"; });
}

// A fiber that catches fiber_cancelled and blocks again is cancelled again.
TEST_P(Leftover, CatchingAndBlockingAgainIsCancelledAgain) {
  int catches = 0;
  goro::run(opts(), [&] {
    goro::chan<int> never;
    goro::go([never, &catches]() mutable {
      for (;;) {
        try {
          never.recv();
        } catch (const goro::fiber_cancelled&) {
          if (++catches == 3) throw;
        }
      }
    });
  });
  EXPECT_EQ(catches, 3);
}

// catch (const std::exception&) does not catch it.
TEST_P(Leftover, StdExceptionHandlersDoNotCatchIt) {
  bool caught = false;
  goro::run(opts(), [&] {
    goro::chan<int> never;
    goro::go([never, &caught]() mutable {
      try {
        never.recv();
      } catch (const std::exception&) {
        caught = true;
      }
    });
  });
  EXPECT_FALSE(caught);
}

// main's exception is rethrown as usual once the leftovers are unwound.
TEST_P(Leftover, MainsExceptionIsRethrown) {
  EXPECT_THROW(goro::run(opts(),
                         [] {
                           goro::chan<int> never;
                           goro::go([never]() mutable { never.recv(); });
                           throw std::runtime_error("main");
                         }),
               std::runtime_error);
}

// report_then_unwind prints the leftovers, then returns.
TEST_P(Leftover, ReportThenUnwindPrintsTheFibers) {
  testing::internal::CaptureStderr();
  const int r = goro::run({.procs = procs(), .leftovers = goro::leftover_policy::report_then_unwind}, [] {
    goro::chan<int> never, unread;
    goro::go([never]() mutable { never.recv(); });
    goro::go([unread]() mutable { unread.send(1); });
    return 7;
  });
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(r, 7);
  EXPECT_NE(err.find("goro: fibers left blocked when main returned:"), std::string::npos) << err;
  EXPECT_NE(err.find("[chan receive"), std::string::npos) << err;
  EXPECT_NE(err.find("[chan send"), std::string::npos) << err;
  EXPECT_NE(err.find("leftover_test.cpp"), std::string::npos) << err;
  EXPECT_EQ(err.find("deadlock"), std::string::npos) << err;
}

// The default prints nothing.
TEST_P(Leftover, UnwindIsSilent) {
  testing::internal::CaptureStderr();
  goro::run(opts(), [] {
    goro::chan<int> never;
    goro::go([never]() mutable { never.recv(); });
  });
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

class LeftoverDeath : public Leftover {
 protected:
  void SetUp() override {
    Leftover::SetUp();
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

INSTANTIATE_TEST_SUITE_P(Procs, LeftoverDeath, ::testing::Values(1, 4), ::goro_test::procs_name);

// leftover_policy::abort: today's deadlock report, and abort.
TEST_P(LeftoverDeath, AbortPolicyReportsADeadlock) {
  const int procs = this->procs();
  EXPECT_DEATH(goro::run({.procs = procs, .leftovers = goro::leftover_policy::abort},
                         [] {
                           goro::chan<int> never;
                           goro::go([never]() mutable { never.recv(); });
                         }),
               "all fibers are asleep - deadlock!(.|\n)*\\[chan receive(.|\n)*created at .*leftover_test.cpp");
}

// While main itself is blocked it is a deadlock, whatever the policy.
TEST_P(LeftoverDeath, BlockedMainIsStillADeadlock) {
  const int procs = this->procs();
  EXPECT_DEATH(goro::run({.procs = procs},
                         [] {
                           goro::chan<int> never;
                           goro::go([never]() mutable { never.recv(); });
                           never.recv();
                         }),
               "all fibers are asleep - deadlock!");
}

}  // namespace
