// goro::context: cancellation trees, deadlines, values, after_func.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "context/inspect.hpp"
#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using goro_test::scaled;
using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

using Context = goro_test::RuntimeTest;

bool is_done(const goro::context& c) {
  bool closed = false;
  goro::select(goro::on_recv(c.done(), [&](std::optional<std::monostate> v) { closed = !v; }),
               goro::on_default([] {}));
  return closed;
}

TEST_P(Context, BackgroundIsNeverDone) {
  goro::run(opts(), [] {
    auto bg = goro::background();
    EXPECT_FALSE(bg.done());  // nil channel
    EXPECT_EQ(bg.err(), goro::context_error::none);
    EXPECT_FALSE(bg.deadline());
    EXPECT_FALSE(is_done(bg));
    EXPECT_EQ(bg.cause(), "");
  });
}

TEST_P(Context, CancelClosesDoneAndSetsErrAndCause) {
  goro::run(opts(), [] {
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    EXPECT_FALSE(is_done(ctx));
    goro::wait_group wg;
    wg.add(1);
    goro::go([&, c = ctx] {
      EXPECT_FALSE(c.done().recv());  // closed: nullopt
      wg.done();
    });
    cancel("shutting down");
    wg.wait();
    EXPECT_TRUE(is_done(ctx));
    EXPECT_EQ(ctx.err(), goro::context_error::canceled);
    EXPECT_EQ(ctx.cause(), "shutting down");
    cancel();  // idempotent, first cause stays
    EXPECT_EQ(ctx.cause(), "shutting down");
    auto [c2, cancel2] = goro::with_cancel(goro::background());
    cancel2();
    EXPECT_EQ(c2.cause(), "context canceled");
  });
}

// A 30-layer chain mixing cancel, timeout and value contexts: cancelling
// layer k cancels exactly the layers below it, synchronously.
TEST_P(Context, CancelAnyLayerOfAChain) {
  goro::run(opts(), [] {
    static goro::context_key<int> depth_key("depth");
    constexpr int layers = 30;
    for (int k = 0; k < layers; k++) {
      std::vector<goro::context> ctx;
      std::vector<std::optional<goro::cancel_func>> cancels;
      goro::context parent = goro::background();
      for (int i = 0; i < layers; i++) {
        switch (i % 3) {
          case 0: {
            auto [c, f] = goro::with_cancel(parent);
            ctx.push_back(c);
            cancels.emplace_back(f);
            break;
          }
          case 1: {
            auto [c, f] = goro::with_timeout(parent, 1h);
            ctx.push_back(c);
            cancels.emplace_back(f);
            break;
          }
          default:
            ctx.push_back(goro::with_value(parent, depth_key, i));
            cancels.emplace_back(std::nullopt);
        }
        parent = ctx.back();
      }
      EXPECT_EQ(*ctx.back().value(depth_key), 29);
      // Cancel layer k (a value layer cancels through its nearest cancelable ancestor).
      int target = k;
      while (!cancels[static_cast<std::size_t>(target)]) target--;
      (*cancels[static_cast<std::size_t>(target)])();
      for (int i = 0; i < layers; i++) {
        // Layers at or below target's cancel scope are done; value layers
        // above the next cancelable layer share their ancestor's state.
        const bool expect = i >= target;
        ASSERT_EQ(is_done(ctx[static_cast<std::size_t>(i)]), expect) << "k=" << k << " layer " << i;
        if (expect) {
          ASSERT_EQ(ctx[static_cast<std::size_t>(i)].err(), goro::context_error::canceled);
        }
      }
      for (auto& f : cancels)
        if (f) (*f)();  // release the timeout fibers
    }
  });
}

// Trees of 100 contexts with random shapes, cancelled concurrently in a
// random order from many fibers: no deadlock, everything ends done.
TEST_P(Context, ConcurrentCancellationOfTrees) {
  goro::run(opts(), [] {
    std::mt19937 rng(7);
    for (int round = 0; round < static_cast<int>(scaled(50, 5)); round++) {
      std::vector<goro::context> ctx;
      std::vector<goro::cancel_func> cancels;
      auto [root, root_cancel] = goro::with_cancel(goro::background());
      ctx.push_back(root);
      cancels.push_back(root_cancel);
      for (int i = 1; i < 100; i++) {
        const auto& parent = ctx[rng() % ctx.size()];
        auto [c, f] = (i % 4 == 0) ? goro::with_timeout(parent, 1h) : goro::with_cancel(parent);
        ctx.push_back(c);
        cancels.push_back(f);
      }
      std::vector<std::size_t> order(cancels.size());
      for (std::size_t i = 0; i < order.size(); i++) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng);
      goro::wait_group wg;
      const std::size_t workers = 8;
      wg.add(static_cast<std::int64_t>(workers));
      for (std::size_t w = 0; w < workers; w++)
        goro::go([&, w] {
          for (std::size_t i = w; i < order.size(); i += workers) cancels[order[i]]();
          wg.done();
        });
      wg.wait();
      for (auto& c : ctx) ASSERT_TRUE(is_done(c));
      EXPECT_EQ(goro::rt::context_children(root), 0u);
    }
  });
}

// A fiber woken by the parent's cancellation cancels a child (which the
// parent's cancel is cancelling too): no deadlock, child done.
TEST_P(Context, ChildCancelledFromAFiberWokenByParent) {
  goro::run(opts(), [] {
    for (int i = 0; i < static_cast<int>(scaled(500)); i++) {
      auto [parent, cancel_parent] = goro::with_cancel(goro::background());
      auto [child, cancel_child] = goro::with_cancel(parent);
      goro::wait_group wg;
      wg.add(1);
      goro::go([&, p = parent, cc = cancel_child] {
        p.done().recv();
        cc();
        wg.done();
      });
      cancel_parent();
      wg.wait();
      ASSERT_TRUE(is_done(child));
    }
  });
}

TEST_P(Context, CancelledChildDetachesFromParent) {
  goro::run(opts(), [] {
    auto [parent, cancel_parent] = goro::with_cancel(goro::background());
    for (int i = 0; i < 10000; i++) {
      auto [c, f] = goro::with_cancel(parent);
      f();
    }
    EXPECT_EQ(goro::rt::context_children(parent), 0u);
    {
      auto [c, f] = goro::with_cancel(parent);
      EXPECT_EQ(goro::rt::context_children(parent), 1u);
    }  // dropped without cancel: unlinks itself too
    EXPECT_EQ(goro::rt::context_children(parent), 0u);
    cancel_parent();
  });
}

TEST_P(Context, ChildOfCancelledParentStartsCancelled) {
  goro::run(opts(), [] {
    auto [parent, cancel] = goro::with_cancel(goro::background());
    cancel("gone");
    auto [child, f] = goro::with_cancel(parent);
    EXPECT_TRUE(is_done(child));
    EXPECT_EQ(child.err(), goro::context_error::canceled);
    EXPECT_EQ(child.cause(), "gone");
    auto [t, g] = goro::with_timeout(parent, 1h);
    EXPECT_TRUE(is_done(t));
  });
}

TEST_P(Context, Deadlines) {
  goro::run(opts(), [] {
    // In the past: done at once.
    auto [past, f1] = goro::with_deadline(goro::background(), clk::now() - 1s);
    EXPECT_TRUE(is_done(past));
    EXPECT_EQ(past.err(), goro::context_error::deadline_exceeded);
    EXPECT_EQ(past.cause(), "context deadline exceeded");
    // A timeout fires.
    const auto t0 = clk::now();
    auto [soon, f2] = goro::with_timeout(goro::background(), 10ms);
    ASSERT_TRUE(soon.deadline());
    EXPECT_FALSE(soon.done().recv());
    EXPECT_GE(clk::now() - t0, 10ms);
    EXPECT_EQ(soon.err(), goro::context_error::deadline_exceeded);
    // Children inherit; a later child deadline keeps the parent's.
    auto [late, f3] = goro::with_timeout(soon, 1h);
    EXPECT_EQ(late.deadline(), soon.deadline());
    EXPECT_TRUE(is_done(late));
    // Cancelling before the deadline: canceled, not deadline_exceeded.
    auto [c, f4] = goro::with_timeout(goro::background(), 1h);
    f4();
    EXPECT_EQ(c.err(), goro::context_error::canceled);
    f1();
    f2();
    f3();
  });
}

TEST_P(Context, ValuesWithTypedKeys) {
  goro::run(opts(), [] {
    static goro::context_key<std::string> user("user");
    static goro::context_key<int> limit("limit");
    static goro::context_key<std::string> other("other");
    auto a = goro::with_value(goro::background(), user, std::string("ann"));
    auto [b, cancel] = goro::with_cancel(a);
    auto c = goro::with_value(b, limit, 5);
    auto d = goro::with_value(c, user, std::string("bob"));  // shadows
    EXPECT_EQ(*c.value(user), "ann");
    EXPECT_EQ(*d.value(user), "bob");
    EXPECT_EQ(*d.value(limit), 5);
    EXPECT_EQ(d.value(other), nullptr);
    EXPECT_EQ(a.value(limit), nullptr);
    cancel();
    EXPECT_TRUE(is_done(d));  // value contexts share their ancestor's cancellation
  });
}

TEST_P(Context, AfterFunc) {
  goro::run(opts(), [] {
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    goro::wait_group ran;
    ran.add(1);
    std::atomic<int> runs{0};
    auto h = goro::after_func(ctx, [&] {
      runs++;
      ran.done();
    });
    std::atomic<int> stopped_runs{0};
    auto h2 = goro::after_func(ctx, [&] { stopped_runs++; });
    EXPECT_TRUE(h2.stop());
    EXPECT_FALSE(h2.stop());
    cancel();
    ran.wait();
    EXPECT_EQ(runs.load(), 1);
    EXPECT_FALSE(h.stop());  // already started
    EXPECT_EQ(stopped_runs.load(), 0);
  });
}

GORO_INSTANTIATE_PROCS(Context);

}  // namespace
