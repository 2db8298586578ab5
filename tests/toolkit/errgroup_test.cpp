// goro::errgroup: the first failure (a code or an exception) wins and is
// what wait() reports; the group's context is cancelled with it as the
// cause; set_limit bounds the fibers running at once; try_go fails when
// full.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <system_error>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using ErrGroup = goro_test::RuntimeTest;

TEST_P(ErrGroup, DefaultGroupWaitsForEveryFiber) {
  std::atomic<int> ran{0};
  goro::run(opts(), [&] {
    goro::errgroup g;
    for (int i = 0; i < 500; i++)
      g.go([&] {
        goro::this_fiber::yield();
        ran++;
      });
    EXPECT_FALSE(g.wait());
    EXPECT_EQ(ran.load(), 500);
    EXPECT_FALSE(g.wait());  // again: the same result
  });
}

// The second failure waits for the group's context, which is cancelled
// only after the first was recorded: the first is reported, whichever
// kind either is.
TEST_P(ErrGroup, FirstFailureWins) {
  const int rounds = static_cast<int>(goro_test::scaled(300));
  for (int r = 0; r < rounds; r++) {
    goro::run(opts(), [&] {
      auto [g, ctx] = goro::errgroup::with_context(goro::background());
      const bool code_first = r % 2 == 0;
      g.go([&, c = ctx]() -> std::error_code {
        if (!code_first) c.done().recv();
        return std::make_error_code(std::errc::timed_out);
      });
      g.go([&, c = ctx] {
        if (code_first) c.done().recv();
        throw std::runtime_error("thrown");
      });
      for (int i = 0; i < 10; i++) g.go([] {});
      if (code_first) {
        EXPECT_EQ(g.wait(), std::errc::timed_out);
      } else {
        EXPECT_THROW(g.wait(), std::runtime_error);
      }
    });
  }
}

TEST_P(ErrGroup, ContextIsCancelledWithTheFirstFailureAsCause) {
  goro::run(opts(), [] {
    auto [parent, cancel_parent] = goro::with_cancel(goro::background());
    auto [g, ctx] = goro::errgroup::with_context(parent);
    std::atomic<int> saw_cancel{0};
    for (int i = 0; i < 20; i++)
      g.go([&, c = ctx] {
        c.done().recv();  // every worker waits for the failure
        saw_cancel++;
      });
    g.go([]() -> std::error_code { return std::make_error_code(std::errc::connection_refused); });
    EXPECT_EQ(g.wait(), std::errc::connection_refused);
    EXPECT_EQ(saw_cancel.load(), 20);
    EXPECT_EQ(ctx.err(), goro::context_error::canceled);
    EXPECT_EQ(ctx.cause(), "errgroup: " + std::make_error_code(std::errc::connection_refused).message());
    EXPECT_EQ(parent.err(), goro::context_error::none);  // only the group's child
    cancel_parent();
  });
}

TEST_P(ErrGroup, ContextIsCancelledWhenWaitReturnsWithoutFailure) {
  goro::run(opts(), [] {
    auto [g, ctx] = goro::errgroup::with_context(goro::background());
    g.go([c = ctx] { EXPECT_EQ(c.err(), goro::context_error::none); });
    EXPECT_FALSE(g.wait());
    EXPECT_EQ(ctx.err(), goro::context_error::canceled);
    EXPECT_EQ(ctx.cause(), "errgroup: wait returned");
  });
}

TEST_P(ErrGroup, ExceptionCauseIsItsWhat) {
  goro::run(opts(), [] {
    auto [g, ctx] = goro::errgroup::with_context(goro::background());
    g.go([] { throw std::invalid_argument("bad input 7"); });
    EXPECT_THROW(g.wait(), std::invalid_argument);
    EXPECT_EQ(ctx.cause(), "errgroup: bad input 7");
    EXPECT_THROW(g.wait(), std::invalid_argument);  // rethrown each time
  });
}

TEST_P(ErrGroup, LimitBoundsConcurrencyAndTryGoFailsWhenFull) {
  const int n = static_cast<int>(goro_test::scaled(2000));
  std::atomic<int> running{0}, peak{0}, ran{0};
  goro::run(opts(), [&] {
    goro::errgroup g;
    g.set_limit(3);
    for (int i = 0; i < n; i++)
      g.go([&] {
        const int now = ++running;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        goro::this_fiber::yield();
        running--;
        ran++;
      });
    EXPECT_FALSE(g.wait());

    // Full: three fibers hold the slots until released.
    goro::chan<int> release;
    for (int i = 0; i < 3; i++) EXPECT_TRUE(g.try_go([&] { release.recv(); }));
    EXPECT_FALSE(g.try_go([&] { ran += 1000000; }));
    EXPECT_THROW(g.set_limit(10), std::logic_error);
    release.close();
    EXPECT_FALSE(g.wait());
    g.set_limit(-1);
    EXPECT_TRUE(g.try_go([] {}));
    EXPECT_FALSE(g.wait());
  });
  EXPECT_EQ(ran.load(), n);
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 1);
}

// wait() from a thread outside the runtime.
TEST_P(ErrGroup, WaitFromAPlainThread) {
  goro::run(opts(), [] {
    goro::errgroup g;
    goro::chan<int> gate;
    for (int i = 0; i < 10; i++) g.go([&] { gate.recv(); });
    std::error_code seen = std::make_error_code(std::errc::io_error);
    std::thread t([&, g]() mutable { seen = g.wait(); });
    gate.close();
    goro::blocking([&] { t.join(); });
    EXPECT_FALSE(seen);
  });
}

GORO_INSTANTIATE_PROCS(ErrGroup);

using ErrGroupDeath = goro_test::FixedRuntimeTest;

TEST_F(ErrGroupDeath, TerminatePolicyLetsTheExceptionEscapeTheFiber) {
  EXPECT_DEATH(goro::run([] {
                 goro::errgroup g(goro::errgroup_policy::terminate);
                 g.go([] { throw std::runtime_error("escaped the group"); });
                 (void)g.wait();
               }),
               "escaped the group");
}

}  // namespace
