// goro::promise / future / shared_future / async: values and exceptions
// reach the waiter once, from fibers and from plain threads; broken
// promises and misuse are reported with std::future_error; a future is a
// select case; a context ends a wait without consuming the future.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using Future = goro_test::RuntimeTest;

std::future_errc code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::future_error& e) {
    return static_cast<std::future_errc>(e.code().value());
  }
  ADD_FAILURE() << "no std::future_error";
  return std::future_errc{};
}

TEST_P(Future, ValuesFromManyFibersReachTheirWaiters) {
  const int n = static_cast<int>(goro_test::live_fibers(2000));
  long sum = 0;
  goro::run(opts(), [&] {
    std::vector<goro::future<long>> fs;
    for (int i = 0; i < n; i++) {
      goro::promise<long> p;
      fs.push_back(p.get_future());
      goro::go([i](goro::promise<long> q) { q.set_value(long{i} * i); }, std::move(p));
    }
    for (auto& f : fs) {
      sum += f.get();
      EXPECT_FALSE(f.valid());
    }
  });
  long want = 0;
  for (long i = 0; i < n; i++) want += i * i;
  EXPECT_EQ(sum, want);
}

TEST_P(Future, AsyncStoresTheResultOrTheException) {
  goro::run(opts(), [] {
    auto f = goro::async([](int a, int b) { return a * b; }, 6, 7);
    auto g = goro::async([]() -> int { throw std::runtime_error("boom"); });
    auto v = goro::async([] {});
    EXPECT_EQ(f.get(), 42);
    try {
      g.get();
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "boom");
    }
    EXPECT_FALSE(g.valid());  // get consumed it, even though it threw
    v.get();
  });
}

TEST_P(Future, BrokenPromiseAndMisuseAreFutureErrors) {
  goro::run(opts(), [] {
    goro::future<int> f;
    {
      goro::promise<int> p;
      f = p.get_future();
      EXPECT_EQ(code_of([&] { (void)p.get_future(); }), std::future_errc::future_already_retrieved);
    }  // destroyed unset
    EXPECT_EQ(code_of([&] { (void)f.get(); }), std::future_errc::broken_promise);

    goro::promise<int> p;
    p.set_value(1);
    EXPECT_EQ(code_of([&] { p.set_value(2); }), std::future_errc::promise_already_satisfied);
    EXPECT_EQ(code_of([&] { p.set_exception(std::make_exception_ptr(1)); }),
              std::future_errc::promise_already_satisfied);
    EXPECT_EQ(p.get_future().get(), 1);  // the first value stays

    goro::future<int> none;
    EXPECT_FALSE(none.valid());
    EXPECT_EQ(code_of([&] { none.wait(); }), std::future_errc::no_state);
    EXPECT_EQ(code_of([&] { (void)none.get(); }), std::future_errc::no_state);
    goro::promise<int> moved_from;
    goro::promise<int> taker(std::move(moved_from));
    EXPECT_EQ(code_of([&] { moved_from.set_value(1); }), std::future_errc::no_state);

    // Assigning over an unset promise breaks its state.
    goro::promise<int> a;
    auto fa = a.get_future();
    a = goro::promise<int>();
    EXPECT_EQ(code_of([&] { (void)fa.get(); }), std::future_errc::broken_promise);
    EXPECT_THROW(a.set_exception(nullptr), std::invalid_argument);
  });
}

// Waiters on threads outside the runtime and setters on plain threads.
TEST_P(Future, PlainThreadsSetAndWait) {
  const int rounds = static_cast<int>(goro_test::scaled(300));
  int got = 0;
  goro::run(opts(), [&] {
    for (int r = 0; r < rounds; r++) {
      goro::promise<int> to_thread, to_fiber;
      auto f_thread = to_thread.get_future();
      auto f_fiber = to_fiber.get_future();
      std::thread t([&, f = std::move(f_thread)]() mutable {
        const int v = f.get();  // blocks the thread
        to_fiber.set_value(v + 1);
      });
      goro::go([p = std::move(to_thread), r]() mutable { p.set_value(r); });
      got += f_fiber.get() == r + 1;
      t.join();
    }
  });
  EXPECT_EQ(got, rounds);
}

TEST_P(Future, SharedFutureGivesEveryCopyTheSameValue) {
  const int n = 200;
  std::atomic<int> ok{0}, threw{0};
  goro::run(opts(), [&] {
    goro::promise<std::string> p;
    goro::shared_future<std::string> sf = p.get_future();
    goro::promise<int> q;
    goro::shared_future<int> sq = q.get_future().share();
    goro::wait_group wg;
    for (int i = 0; i < n; i++) {
      wg.add(1);
      goro::go([&, sf, sq] {
        if (sf.get() == "shared" && &sf.get() == &sf.get()) ok++;
        try {
          (void)sq.get();
        } catch (const std::logic_error&) {
          threw++;
        }
        wg.done();
      });
    }
    goro::this_fiber::yield();
    p.set_value("shared");
    q.set_exception(std::make_exception_ptr(std::logic_error("each")));
    wg.wait();
    EXPECT_EQ(sf.get(), "shared");  // still there after every copy read it
  });
  EXPECT_EQ(ok.load(), n);
  EXPECT_EQ(threw.load(), n);
}

TEST_P(Future, WaitForTimesOutThenSucceeds) {
  goro::run(opts(), [] {
    goro::promise<int> p;
    auto f = p.get_future();
    EXPECT_EQ(f.wait_for(1ms), std::future_status::timeout);
    EXPECT_EQ(f.wait_until(std::chrono::steady_clock::now() - 1s), std::future_status::timeout);
    EXPECT_FALSE(f.is_ready());
    goro::go([&] { p.set_value(3); });
    EXPECT_EQ(f.wait_for(60s), std::future_status::ready);  // bounded: the setter runs at once
    EXPECT_TRUE(f.is_ready());
    EXPECT_EQ(f.get(), 3);
  });
}

// A future in select beside a channel: whichever is ready is chosen, and
// a future that is already ready is a ready case.
TEST_P(Future, OnReadyIsASelectCase) {
  const int rounds = static_cast<int>(goro_test::scaled(2000));
  int by_future = 0, by_chan = 0;
  goro::run(opts(), [&] {
    for (int r = 0; r < rounds; r++) {
      goro::promise<int> p;
      auto f = p.get_future();
      goro::chan<int> c;
      if (r % 2 == 0) {
        goro::go([q = std::move(p), r]() mutable { q.set_value(r); });
      } else {
        goro::go([c, r]() mutable { c.send(r); });
      }
      int got = -1;
      goro::select(goro::on_ready(f, [&] { got = f.get(); by_future++; }),
                   goro::on_recv(c, [&](std::optional<int> v) { got = *v; by_chan++; }));
      EXPECT_EQ(got, r);
    }
    goro::promise<int> ready;
    ready.set_value(9);
    auto f = ready.get_future();
    EXPECT_EQ(goro::select(goro::on_ready(f), goro::on_default([] {})), 0u);
    EXPECT_EQ(f.get(), 9);
  });
  EXPECT_EQ(by_future, (rounds + 1) / 2);
  EXPECT_EQ(by_chan, rounds / 2);
}

// The ready channel is made on first use and closed exactly once, whether
// it is asked for before or after the value is set, by racing fibers.
TEST_P(Future, ReadyChannelRacingTheSetter) {
  const int rounds = static_cast<int>(goro_test::scaled(5000));
  std::atomic<int> seen{0};
  goro::run(opts(), [&] {
    for (int r = 0; r < rounds; r++) {
      goro::promise<int> p;
      goro::shared_future<int> f = p.get_future();
      goro::wait_group wg;
      wg.add(2);
      goro::go([&, f] {
        goro::select(goro::on_ready(f));
        seen += f.get() == r;
        wg.done();
      });
      goro::go([&] {
        p.set_value(r);
        wg.done();
      });
      wg.wait();
    }
  });
  EXPECT_EQ(seen.load(), rounds);
}

TEST_P(Future, ContextEndsTheWaitWithoutConsumingTheFuture) {
  goro::run(opts(), [] {
    goro::promise<int> p;
    auto f = p.get_future();
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    goro::go([c = cancel] { c("stop waiting"); });
    try {
      (void)f.get(ctx);
      ADD_FAILURE() << "get(ctx) returned";
    } catch (const goro::context_done_error& e) {
      EXPECT_EQ(e.err(), goro::context_error::canceled);
      EXPECT_STREQ(e.what(), "stop waiting");
    }
    EXPECT_TRUE(f.valid());
    auto [tctx, tcancel] = goro::with_timeout(goro::background(), 1ms);
    try {
      f.wait(tctx);
      ADD_FAILURE() << "wait(ctx) returned";
    } catch (const goro::context_done_error& e) {
      EXPECT_EQ(e.err(), goro::context_error::deadline_exceeded);
    }
    tcancel();
    p.set_value(5);
    EXPECT_EQ(f.get(ctx), 5);  // ready wins over a done context
  });
}

TEST_P(Future, ThenChainsInNewFibers) {
  goro::run(opts(), [] {
    auto f = goro::async([] { return 2; })
                 .then([](goro::future<int> x) { return x.get() * 10; })
                 .then([](goro::future<int> x) { return std::to_string(x.get()); });
    EXPECT_EQ(f.get(), "20");
    auto g = goro::async([]() -> int { throw std::out_of_range("first"); })
                 .then([](goro::future<int> x) { return x.get() + 1; });
    EXPECT_THROW(g.get(), std::out_of_range);
  });
}

// A fiber blocked in get() when main returns is unwound; a fiber of async
// unwound that way breaks its promise instead of storing fiber_cancelled.
TEST_P(Future, LeftoverWaitersAreUnwound) {
  std::atomic<int> unwound{0};
  goro::promise<int> never;  // outlives the run, never set
  goro::shared_future<int> from_async;
  goro::chan<int> silent;
  goro::run(opts(), [&] {
    from_async = goro::async([&] { return *silent.recv(); });
    goro::go([&, f = never.get_future()]() mutable {
      struct count {
        std::atomic<int>& n;
        ~count() { n++; }
      } c{unwound};
      (void)f.get();
    });
    goro::this_fiber::yield();
  });
  EXPECT_EQ(unwound.load(), 1);
  EXPECT_EQ(code_of([&] { (void)from_async.get(); }), std::future_errc::broken_promise);
}

GORO_INSTANTIATE_PROCS(Future);

}  // namespace
