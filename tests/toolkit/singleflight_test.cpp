// goro::singleflight: concurrent calls for one key run fn once; a waiter
// with its own context leaves without cancelling the call; the call's
// context ends when every waiter has left; exceptions reach every waiter;
// forget never lets an old call remove a newer one.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using SingleFlight = goro_test::RuntimeTest;

TEST_P(SingleFlight, ThousandConcurrentCallsRunFnOnce) {
  const int n = static_cast<int>(goro_test::live_fibers(1000));
  std::atomic<int> executions{0}, right{0}, shared{0};
  goro::run(opts(), [&] {
    goro::singleflight<std::string, int> sf;
    goro::chan<int> gate;  // holds the call until every caller has joined
    goro::wait_group wg;
    wg.add(n);
    for (int i = 0; i < n; i++)
      goro::go([&] {
        auto r = sf.do_call("k", [&] {
          executions++;
          gate.recv();
          return 42;
        });
        right += r.value == 42;
        shared += r.shared;
        wg.done();
      });
    // The call cannot end before the gate opens, so every caller joins it.
    while (sf.waiting("k") < static_cast<std::size_t>(n)) goro::this_fiber::yield();
    gate.close();
    wg.wait();
  });
  EXPECT_EQ(executions.load(), 1);
  EXPECT_EQ(right.load(), n);
  EXPECT_EQ(shared.load(), n);
}

TEST_P(SingleFlight, AWaiterLeavingDoesNotCancelTheCall) {
  goro::run(opts(), [] {
    goro::singleflight<int, std::string> sf;
    goro::chan<int> gate;
    std::atomic<int> call_cancelled{-1};
    auto fn = [&](const goro::context& call_ctx) {
      gate.recv();
      call_cancelled = call_ctx.err() != goro::context_error::none;
      return std::string("value");
    };
    auto [ctx_a, cancel_a] = goro::with_cancel(goro::background());
    goro::chan<int> a_left(1);
    goro::go([&, c = ctx_a] {
      EXPECT_THROW(sf.do_call(c, 7, fn), goro::context_done_error);
      a_left.send(1);
    });
    goro::promise<goro::singleflight<int, std::string>::result> b_result;
    auto b_future = b_result.get_future();
    goro::go([&] { b_result.set_value(sf.do_call(7, fn)); });
    while (sf.waiting(7) < 2) goro::this_fiber::yield();
    cancel_a();
    a_left.recv();
    EXPECT_EQ(sf.waiting(7), 1u);  // B still waits for the same call
    gate.close();
    auto b = b_future.get();
    EXPECT_EQ(b.value, "value");
    EXPECT_TRUE(b.shared);  // A joined it too
    EXPECT_EQ(call_cancelled.load(), 0);
  });
}

TEST_P(SingleFlight, CallContextEndsWhenEveryWaiterHasLeft) {
  goro::run(opts(), [] {
    goro::singleflight<int, int> sf;
    std::atomic<int> executions{0};
    goro::chan<std::string> cause(1);
    auto slow = [&](const goro::context& call_ctx) {
      executions++;
      call_ctx.done().recv();
      cause.send(call_ctx.cause());
      return -1;
    };
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    goro::wait_group wg;
    for (int i = 0; i < 5; i++) {
      wg.add(1);
      goro::go([&, c = ctx] {
        EXPECT_THROW(sf.do_call(c, 1, slow), goro::context_done_error);
        wg.done();
      });
    }
    while (sf.waiting(1) < 5) goro::this_fiber::yield();
    cancel();
    wg.wait();
    EXPECT_EQ(*cause.recv(), "singleflight: every caller left");
    // The abandoned call was forgotten: the next caller runs fn anew.
    auto r = sf.do_call(1, [&] {
      executions++;
      return 2;
    });
    EXPECT_EQ(r.value, 2);
    EXPECT_FALSE(r.shared);
    EXPECT_EQ(executions.load(), 2);
    // A done context fails before joining anything.
    EXPECT_THROW(sf.do_call(ctx, 1, [] { return 3; }), goro::context_done_error);
  });
}

TEST_P(SingleFlight, AnExceptionReachesEveryWaiter) {
  const int n = 100;
  std::atomic<int> got{0};
  goro::run(opts(), [&] {
    goro::singleflight<int, int> sf;
    goro::chan<int> gate;
    goro::wait_group wg;
    for (int i = 0; i < n; i++) {
      wg.add(1);
      goro::go([&] {
        try {
          sf.do_call(0, [&]() -> int {
            gate.recv();
            throw std::runtime_error("load failed");
          });
        } catch (const std::runtime_error& e) {
          got += std::string(e.what()) == "load failed";
        }
        wg.done();
      });
    }
    while (sf.waiting(0) < static_cast<std::size_t>(n)) goro::this_fiber::yield();
    gate.close();
    wg.wait();
  });
  EXPECT_EQ(got.load(), n);
}

// forget while a call is in flight; a new call starts; when the old call
// ends it must not remove the new call's entry: a later caller still joins
// the new call.
TEST_P(SingleFlight, ForgottenCallNeverRemovesANewerOne) {
  goro::run(opts(), [] {
    goro::singleflight<std::string, int> sf;
    goro::chan<int> gate1, gate2;
    std::atomic<int> executions{0};
    auto first = sf.do_future("k", [&] {
      executions++;
      gate1.recv();
      return 1;
    });
    sf.forget("k");
    auto second = sf.do_future("k", [&] {
      executions++;
      gate2.recv();
      return 2;
    });
    gate1.close();
    EXPECT_EQ(first.get(), 1);
    auto third = sf.do_future("k", [&] {
      executions++;
      return 3;
    });
    EXPECT_EQ(sf.waiting("k"), 2u);
    gate2.close();
    EXPECT_EQ(second.get(), 2);
    EXPECT_EQ(third.get(), 2);  // joined the second call
    EXPECT_EQ(executions.load(), 2);
    EXPECT_EQ(sf.waiting("k"), 0u);
  });
}

TEST_P(SingleFlight, ChannelFormAlwaysDelivers) {
  goro::run(opts(), [] {
    goro::singleflight<int, int> sf;
    goro::chan<int> gate;
    auto a = sf.do_chan(5, [&]() -> int {
      gate.recv();
      throw std::logic_error("no");
    });
    auto b = sf.do_chan(5, [] { return 0; });
    gate.close();
    for (auto* c : {&a, &b}) {
      auto r = c->recv();
      ASSERT_TRUE(r.has_value());
      EXPECT_TRUE(r->shared);
      EXPECT_THROW(r->get(), std::logic_error);
    }
    auto ok = sf.do_chan(6, [] { return 60; }).recv();
    EXPECT_EQ(ok->get(), 60);
    EXPECT_FALSE(ok->shared);
    // A reader that never reads: the sending fiber does not block (buffer of one).
    (void)sf.do_chan(7, [] { return 70; });
  });
}

// Many keys, many callers, procs > 1: every caller gets its key's value.
TEST_P(SingleFlight, ManyKeysUnderLoad) {
  const int rounds = static_cast<int>(goro_test::scaled(50));
  const int callers = 200;
  std::atomic<int> wrong{0}, executions{0};
  goro::run(opts(), [&] {
    goro::singleflight<int, int> sf;
    for (int r = 0; r < rounds; r++) {
      goro::wait_group wg;
      for (int i = 0; i < callers; i++) {
        wg.add(1);
        goro::go([&, i] {
          const int key = i % 10;
          auto res = sf.do_call(key, [&, key] {
            executions++;
            goro::this_fiber::yield();
            return key * 100;
          });
          if (res.value != key * 100) wrong++;
          wg.done();
        });
      }
      wg.wait();
      EXPECT_EQ(sf.waiting(3), 0u);
    }
  });
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GE(executions.load(), 10 * rounds);
  EXPECT_LT(executions.load(), callers * rounds);  // some calls were shared
}

GORO_INSTANTIATE_PROCS(SingleFlight);

}  // namespace
