// goro::workflow: values, registration and submission errors, chains
// (results passed on, immutable steps), groups within their limit, chords
// (callback, error callback, all-settled), retries with backoff and a cap,
// timeouts, delays and ETAs, periodic jobs, cancellation of queued,
// delayed, retrying and running tasks, engine stop, a custom broker, and
// many runs at once.
//
// Conditions other fibers bring about (a task has started, is waiting to
// retry) are awaited by polling the results' states with short sleeps, up
// to 10 s; the only time assertions are lower bounds (a delayed task never
// runs early) and generous upper bounds that only a hang would break.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime_fixture.hpp"
#include "toolkit/toolkit_util.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
namespace wf = goro::workflow;

class Workflow : public goro_test::RuntimeTest {};

using goro_test::concurrency;
using goro_test::toolkit::eventually;

// The usual arithmetic tasks.
void register_math(wf::engine& e) {
  e.register_task("add", [](std::int64_t a, std::int64_t b) { return a + b; });
  e.register_task("mul", [](std::int64_t a, std::int64_t b) { return a * b; });
  e.register_task("square", [](std::int64_t a) { return a * a; });
  e.register_task("sum", [](const std::vector<std::int64_t>& xs) {
    std::int64_t s = 0;
    for (auto x : xs) s += x;
    return s;
  });
  e.register_task("count", [](const std::vector<wf::value>& xs) { return static_cast<std::int64_t>(xs.size()); });
}

// Waits for r and returns what get() threw, as text ("" if nothing).
std::string failure_of(const wf::async_result& r) {
  try {
    r.get();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

template <class E>
bool throws(const wf::async_result& r) {
  try {
    r.get();
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
  return false;
}

TEST(WorkflowValue, ConvertsPrintsAndRejectsMismatches) {
  wf::value none;
  EXPECT_TRUE(none.is_none());
  EXPECT_EQ(wf::to_value(42).kind(), wf::value_kind::integer);
  EXPECT_EQ(wf::from_value<int>(wf::value(42)), 42);
  EXPECT_EQ(wf::from_value<double>(wf::value(3)), 3.0);  // an integer is a real too
  EXPECT_EQ(wf::value(1.5).as_double(), 1.5);
  EXPECT_EQ(wf::from_value<std::string>(wf::value("hi")), "hi");
  EXPECT_EQ(wf::from_value<std::vector<int>>(wf::to_value(std::vector<int>{1, 2, 3})), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(wf::from_value<std::optional<int>>(wf::value()), std::nullopt);
  EXPECT_EQ(wf::from_value<std::optional<int>>(wf::value(7)), 7);
  EXPECT_EQ(wf::value(wf::value::list{1, "a", true, wf::value(), 2.5}).to_string(), "[1, \"a\", true, null, 2.5]");
  EXPECT_EQ(wf::value(std::string("q\"")).to_string(), "\"q\\\"\"");
  EXPECT_TRUE(wf::value(wf::value::list{1, 2}) == wf::to_value(std::vector<int>{1, 2}));
  EXPECT_FALSE(wf::value(1) == wf::value(1.0));

  EXPECT_THROW(wf::from_value<std::string>(wf::value(1)), wf::workflow_error);
  EXPECT_THROW(wf::from_value<std::int8_t>(wf::value(300)), wf::workflow_error);
  EXPECT_THROW(wf::value(std::uint64_t{1} << 63), wf::workflow_error);
  EXPECT_THROW(wf::from_value<bool>(wf::value(1)), wf::workflow_error);
  EXPECT_THROW(wf::from_value<float>(wf::value(1e300)), wf::workflow_error);
  EXPECT_EQ(wf::from_value<float>(wf::value(0.5)), 0.5f);
  try {
    wf::from_value<std::vector<int>>(wf::value(wf::value::list{1, "x"}));
    ADD_FAILURE() << "no throw";
  } catch (const wf::workflow_error& e) {
    EXPECT_NE(std::string(e.what()).find("list element 1"), std::string::npos) << e.what();
  }

  wf::value err = wf::value::make_error(std::make_exception_ptr(std::runtime_error("boom")));
  EXPECT_TRUE(err.is_error());
  EXPECT_EQ(err.error_message(), "boom");
  EXPECT_THROW(std::rethrow_exception(err.error()), std::runtime_error);
  EXPECT_THROW(std::rethrow_exception(wf::value::make_error(std::string("text")).error()), wf::task_error);
  EXPECT_EQ(err.to_string(), "error(\"boom\")");
  EXPECT_THROW(wf::value::make_error(std::exception_ptr()), wf::workflow_error);
}

TEST_P(Workflow, RegistrationAndSubmissionErrorsAreReportedAtOnce) {
  goro::run(opts(), [] {
    wf::engine e(goro::background());
    register_math(e);
    e.register_task("greet", [](std::string who) { return "hello " + who; });
    EXPECT_TRUE(e.has_task("add"));
    EXPECT_FALSE(e.has_task("nope"));
    EXPECT_THROW(e.register_task("add", [](std::int64_t a) { return a; }), wf::workflow_error);
    EXPECT_THROW(e.register_task("", [] {}), wf::workflow_error);

    auto message = [&](const wf::flow& f) -> std::string {
      try {
        e.submit(f);
      } catch (const wf::workflow_error& x) {
        return x.what();
      }
      return "";
    };
    EXPECT_NE(message(wf::task("nope", 1)).find("unknown task 'nope'"), std::string::npos);
    EXPECT_NE(message(wf::task("add", 1)).find("takes 2"), std::string::npos);
    EXPECT_NE(message(wf::task("add", 1, 2, 3)).find("takes 2"), std::string::npos);
    // The second step receives the first one's result: 2 + 1 is one too many.
    EXPECT_NE(message(wf::chain(wf::task("add", 1, 2), wf::task("add", 1, 2))).find("plus the result"),
              std::string::npos);
    // ... unless it is immutable.
    EXPECT_EQ(message(wf::chain(wf::task("add", 1, 2), wf::task("add", 1, 2).immutable())), "");
    EXPECT_NE(message(wf::task("add", 1, "two")).find("argument 2"), std::string::npos);
    EXPECT_NE(message(wf::group({wf::task("square", 1), wf::task("greet", 2)})).find("task 'greet', argument 1"),
              std::string::npos);
    EXPECT_NE(message(wf::chord(wf::group({wf::task("square", 1)}), wf::task("nope"))).find("unknown task"),
              std::string::npos);
    EXPECT_NE(message(wf::task("square", 1).delay(-1ms)).find("delay is negative"), std::string::npos);
    EXPECT_NE(message(wf::task("square", 1).retry({.max_retries = 1, .jitter = 2})).find("jitter"), std::string::npos);
    EXPECT_NE(message(wf::task("square", 1).retry({.max_retries = 1, .multiplier = 0.5})).find("multiplier"),
              std::string::npos);
    EXPECT_NE(message(wf::task("square", 1).delay(std::chrono::hours(24 * 365 * 51))).find("50 years"),
              std::string::npos);
    EXPECT_NE(message(wf::task("square", 1).timeout(std::chrono::nanoseconds::max())).find("50 years"),
              std::string::npos);
    EXPECT_THROW(wf::chain(std::vector<wf::flow>{}), wf::workflow_error);
    EXPECT_THROW(wf::chord(wf::task("square", 1), wf::task("sum")), wf::workflow_error);
    EXPECT_THROW(wf::chord(wf::group({wf::task("square", 1)}), wf::task("sum"),
                           {.on_error = wf::task("square", 2), .all_settled = true}),
                 wf::workflow_error);
    EXPECT_THROW(e.periodic(wf::task("square", 1), 0ms, goro::background()), wf::workflow_error);
    EXPECT_THROW(wf::engine(goro::background(), {.concurrency = 0}), std::invalid_argument);

    // A result of the wrong type reaching a step fails that step when it
    // runs, with workflow_error, and is not retried.
    wf::async_result r = e.submit(wf::chain(wf::task("greet", "x"), wf::task("square").retry({.max_retries = 3})));
    EXPECT_TRUE(throws<wf::workflow_error>(r));
    EXPECT_NE(failure_of(r.children()[1]).find("task 'square', argument 1: "), std::string::npos);
    EXPECT_EQ(r.children()[1].attempts(), 1);
    EXPECT_EQ(r.state(), wf::task_state::failure);
  });
}

TEST_P(Workflow, ChainPassesEachResultToTheNextStep) {
  goro::run(opts(), [] {
    wf::engine e(goro::background());
    register_math(e);
    e.register_task("seven", [] { return 7; });
    std::atomic<int> saw_ctx{0};
    e.register_task("ctx_aware", [&](const goro::context& c, std::int64_t x) {
      if (c.err() == goro::context_error::none && c.done()) saw_ctx++;
      return x;
    });
    e.register_task("nothing", [](std::int64_t) {});
    e.register_task("maybe", [](std::optional<std::int64_t> x) { return x ? *x : -1; });
    // A generic lambda, with its signature given.
    e.register_task<std::int64_t(std::int64_t)>("twice", [](auto x) { return 2 * x; });

    wf::async_result r = e.submit(wf::chain(wf::task("add", 1, 2), wf::task("add", 10), wf::task("mul", 3),
                                            wf::task("ctx_aware"), wf::task("twice")));
    EXPECT_EQ(r.get_as<std::int64_t>(), 78);  // ((1 + 2) + 10) * 3 * 2
    EXPECT_EQ(r.name(), "chain");
    EXPECT_EQ(r.state(), wf::task_state::success);
    ASSERT_EQ(r.children().size(), 5u);
    EXPECT_EQ(r.children()[0].get_as<int>(), 3);
    EXPECT_EQ(r.children()[1].get_as<int>(), 13);
    for (const auto& c : r.children()) {
      EXPECT_EQ(c.state(), wf::task_state::success);
      EXPECT_EQ(c.attempts(), 1);
      EXPECT_TRUE(c.children().empty());
    }
    EXPECT_EQ(saw_ctx.load(), 1);

    // An immutable step keeps its own arguments; the next gets its result.
    EXPECT_EQ(e.submit(wf::chain(wf::task("add", 1, 2), wf::task("seven").immutable(), wf::task("add", 1)))
                  .get_as<int>(),
              8);
    // A void result is none.
    EXPECT_EQ(e.submit(wf::chain(wf::task("square", 3), wf::task("nothing"), wf::task("maybe"))).get_as<int>(), -1);
    // A chain inside a chain; a group step gives every member the result.
    wf::async_result nested = e.submit(
        wf::chain(wf::task("add", 2, 3), wf::chain(wf::task("square"), wf::task("add", 1)),
                  wf::group({wf::task("mul", 2), wf::task("mul", 3)}), wf::task("sum")));
    EXPECT_EQ(nested.get_as<int>(), 26 * 2 + 26 * 3);
  });
}

TEST_P(Workflow, GroupRunsMembersInParallelWithinItsLimit) {
  const int members = static_cast<int>(goro_test::scaled(60, 3));
  concurrency c;
  std::atomic<int> arrived{0};
  goro::run(opts(), [&] {
    wf::engine e(goro::background(), {.concurrency = 8});
    e.register_task("tracked", [&](std::int64_t i) {
      c.enter();
      arrived++;
      // The first members can only go on once three run at once: the
      // limit is reached, not just respected.
      EXPECT_TRUE(eventually([&] { return arrived.load() >= 3; }));
      for (int k = 0; k < 3; k++) goro::this_fiber::yield();
      c.leave();
      return i;
    });
    std::vector<wf::flow> fs;
    for (int i = 0; i < members; i++) fs.push_back(wf::task("tracked", i));
    wf::async_result r = e.submit(wf::group(fs, 3));
    std::vector<std::int64_t> got = r.get_as<std::vector<std::int64_t>>();
    ASSERT_EQ(got.size(), static_cast<std::size_t>(members));
    for (int i = 0; i < members; i++) EXPECT_EQ(got[static_cast<std::size_t>(i)], i);  // member order
    EXPECT_EQ(r.name(), "group");
    EXPECT_EQ(r.children().size(), static_cast<std::size_t>(members));

    // An empty group succeeds at once with an empty list.
    EXPECT_EQ(e.submit(wf::group({})).get(), wf::value(wf::value::list{}));
  });
  EXPECT_EQ(c.max.load(), 3);  // never more than the limit, and the limit reached
}

TEST_P(Workflow, ChordCallsItsCallbackWithEveryResult) {
  goro::run(opts(), [] {
    wf::engine e(goro::background());
    register_math(e);
    std::vector<wf::flow> squares;
    for (int i = 1; i <= 5; i++) squares.push_back(wf::task("square", i));

    wf::async_result r = e.submit(wf::chord(wf::group(squares), wf::task("sum")));
    EXPECT_EQ(r.get_as<int>(), 55);
    EXPECT_EQ(r.name(), "chord");
    ASSERT_EQ(r.children().size(), 2u);
    EXPECT_EQ(r.children()[0].get(), wf::to_value(std::vector<int>{1, 4, 9, 16, 25}));
    EXPECT_EQ(r.children()[1].name(), "sum");

    // Callbacks that are a chain and a group.
    EXPECT_EQ(e.submit(wf::chord(wf::group(squares), wf::chain(wf::task("sum"), wf::task("add", 1)))).get_as<int>(),
              56);
    EXPECT_EQ(e.submit(wf::chord(wf::group(squares), wf::group({wf::task("count"), wf::task("sum")}))).get(),
              wf::to_value(std::vector<int>{5, 55}));
    // A chord as a chain step: every member gets the previous result.
    EXPECT_EQ(e.submit(wf::chain(wf::task("add", 1, 1),
                                 wf::chord(wf::group({wf::task("mul", 10), wf::task("mul", 100)}), wf::task("sum"))))
                  .get_as<int>(),
              220);
  });
}

TEST_P(Workflow, ChordWithAFailingMemberRunsItsErrorCallback) {
  goro::run(opts(), [] {
    wf::engine e(goro::background());
    register_math(e);
    e.register_task("boom", [](std::int64_t i) -> std::int64_t {
      throw wf::permanent_error("boom " + std::to_string(i));
    });
    goro::chan<std::string> reported(4);
    e.register_task("report", [&](wf::value err) {
      EXPECT_TRUE(err.is_error());
      reported.send(err.error_message());
    });
    auto members = [] {
      return wf::group({wf::task("square", 1), wf::task("boom", 2), wf::task("square", 3), wf::task("boom", 4)});
    };

    wf::async_result r =
        e.submit(wf::chord(members(), wf::task("sum"), {.on_error = wf::task("report")}));
    EXPECT_TRUE(throws<wf::permanent_error>(r));
    EXPECT_EQ(failure_of(r), "boom 2");  // the lowest-numbered failed member's
    EXPECT_EQ(r.state(), wf::task_state::failure);
    ASSERT_EQ(r.children().size(), 3u);
    EXPECT_EQ(r.children()[0].state(), wf::task_state::failure);
    EXPECT_EQ(r.children()[0].children()[0].state(), wf::task_state::success);
    EXPECT_EQ(r.children()[0].children()[1].state(), wf::task_state::failure);
    EXPECT_EQ(r.children()[1].state(), wf::task_state::skipped);  // the callback
    EXPECT_TRUE(throws<wf::skipped_error>(r.children()[1]));
    EXPECT_EQ(r.children()[1].attempts(), 0);
    EXPECT_EQ(r.children()[2].state(), wf::task_state::success);  // on_error ran, before the chord settled
    EXPECT_EQ(reported.try_recv().value, "boom 2");

    // Without an error callback the chord fails likewise.
    wf::async_result plain = e.submit(wf::chord(members(), wf::task("sum")));
    EXPECT_EQ(failure_of(plain), "boom 2");
    EXPECT_EQ(plain.children()[1].state(), wf::task_state::skipped);

    // When no member fails, on_error is skipped.
    wf::async_result fine = e.submit(
        wf::chord(wf::group({wf::task("square", 2)}), wf::task("sum"), {.on_error = wf::task("report")}));
    EXPECT_EQ(fine.get_as<int>(), 4);
    EXPECT_EQ(fine.children()[2].state(), wf::task_state::skipped);
    EXPECT_EQ(reported.size(), 0u);
  });
}

TEST_P(Workflow, AllSettledChordGivesTheCallbackEveryOutcome) {
  goro::run(opts(), [] {
    wf::engine e(goro::background());
    register_math(e);
    e.register_task("boom", [](std::int64_t i) -> std::int64_t { throw std::runtime_error("boom " + std::to_string(i)); });
    e.register_task("summary", [](const std::vector<wf::value>& outcomes) {
      std::string s;
      for (const auto& o : outcomes) s += (o.is_error() ? "err:" + o.error_message() : o.to_string()) + ";";
      return s;
    });
    wf::async_result r = e.submit(
        wf::chord(wf::group({wf::task("boom", 0), wf::task("square", 2), wf::task("boom", 2), wf::task("square", 4)}),
                  wf::task("summary"), {.all_settled = true}));
    EXPECT_EQ(r.get_as<std::string>(), "err:boom 0;4;err:boom 2;16;");
    EXPECT_EQ(r.state(), wf::task_state::success);
    EXPECT_EQ(r.children()[0].state(), wf::task_state::failure);  // the group itself failed
  });
}

TEST_P(Workflow, RetriesBackOffAndCountAttempts) {
  std::atomic<int> calls{0};
  goro::run(opts(), [&] {
    wf::engine e(goro::background());
    goro::chan<int> failing(8);
    e.register_task("flaky", [&](std::int64_t fail_times) {
      const int n = ++calls;
      if (n <= fail_times) {
        failing.send(n);
        throw std::runtime_error("flaky failure " + std::to_string(n));
      }
      return n;
    });
    e.register_task("always", []() -> int { throw std::runtime_error("always fails"); });
    e.register_task("fatal", []() -> int { throw wf::permanent_error("give up"); });

    // Fails twice, then succeeds; the retry state is seen in a backoff
    // (two windows of 500 ms: a stall of the test cannot miss both).
    const auto start = std::chrono::steady_clock::now();
    wf::async_result r = e.submit(wf::task("flaky", 2).retry({.max_retries = 3, .backoff = 500ms, .multiplier = 1}));
    EXPECT_EQ(failing.recv(), 1);
    EXPECT_TRUE(eventually([&] { return r.state() == wf::task_state::retry; }));
    EXPECT_GE(r.attempts(), 1);
    EXPECT_LE(r.attempts(), 2);
    EXPECT_EQ(r.get_as<int>(), 3);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 1000ms);  // two waits of 500 ms
    EXPECT_EQ(r.attempts(), 3);
    EXPECT_EQ(r.state(), wf::task_state::success);

    // Out of retries: the last attempt's error.
    wf::async_result out = e.submit(wf::task("always").retry({.max_retries = 2, .backoff = 1ms}));
    EXPECT_EQ(failure_of(out), "always fails");
    EXPECT_EQ(out.attempts(), 3);
    EXPECT_EQ(out.state(), wf::task_state::failure);

    // permanent_error is not retried.
    wf::async_result fatal = e.submit(wf::task("fatal").retry({.max_retries = 5, .backoff = 1ms}));
    EXPECT_TRUE(throws<wf::permanent_error>(fatal));
    EXPECT_EQ(fatal.attempts(), 1);
  });
}

// Uncapped, the second wait would be 20 s and the run would outlast the
// context: the cap (30 ms) keeps it short. The jitter only shortens waits.
TEST_P(Workflow, BackoffIsCapped) {
  goro::run(opts(), [] {
    wf::engine e(goro::background());
    std::atomic<int> calls{0};
    e.register_task("flaky", [&] {
      if (++calls <= 3) throw std::runtime_error("not yet");
      return 1;
    });
    auto [ctx, cancel] = goro::with_timeout(goro::background(), 10s);
    wf::async_result r = e.submit(
        wf::task("flaky").retry({.max_retries = 3, .backoff = 20ms, .multiplier = 1000, .max_backoff = 30ms, .jitter = 0.5}));
    EXPECT_EQ(r.get(ctx).as<int>(), 1);
    EXPECT_EQ(r.attempts(), 4);
    cancel();

    // No cap (the longest max_backoff): the backoff is still waited, and
    // jitter only shortens it (by at most half here).
    calls = 2;
    const auto start = std::chrono::steady_clock::now();
    wf::async_result uncapped = e.submit(wf::task("flaky").retry(
        {.max_retries = 1, .backoff = 100ms, .max_backoff = std::chrono::nanoseconds::max(), .jitter = 0.5}));
    EXPECT_EQ(uncapped.get_as<int>(), 1);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  });
}

TEST_P(Workflow, TimeoutFailsTheAttemptAndIsRetried) {
  goro::run(opts(), [] {
    wf::engine e(goro::background());
    e.register_task("slow", [](const goro::context& c) -> int {
      c.done().recv();  // until its timeout
      goro::throw_if_done(c);
      return 0;
    });
    std::atomic<int> calls{0};
    e.register_task("late", [&](const goro::context& c) {
      calls++;
      c.done().recv();
      return 1;  // returned after the deadline: still a timeout
    });
    wf::async_result r = e.submit(wf::task("slow").timeout(20ms).retry({.max_retries = 1, .backoff = 1ms}));
    EXPECT_TRUE(throws<wf::task_timeout_error>(r));
    EXPECT_EQ(r.attempts(), 2);
    wf::async_result late = e.submit(wf::task("late").timeout(10ms));
    EXPECT_TRUE(throws<wf::task_timeout_error>(late));
    EXPECT_EQ(calls.load(), 1);
  });
}

TEST_P(Workflow, DelayedAndEtaTasksDoNotRunEarly) {
  goro::run(opts(), [] {
    using sc = std::chrono::system_clock;
    wf::engine e(goro::background());
    e.register_task("stamp", [&] { return static_cast<std::int64_t>(sc::now().time_since_epoch().count()); });

    auto elapsed = [](std::int64_t stamp, sc::time_point since) {
      return sc::time_point(sc::duration(stamp)) - since;
    };
    sc::time_point t0 = sc::now();
    wf::async_result d = e.submit(wf::task("stamp").delay(50ms));
    EXPECT_GE(elapsed(d.get_as<std::int64_t>(), t0), 50ms);

    t0 = sc::now();
    wf::async_result eta = e.submit(wf::task("stamp").eta(t0 + 60ms));
    EXPECT_GE(elapsed(eta.get_as<std::int64_t>(), t0), 60ms);

    // Pending while it waits (an hour: no stall of the test ends the wait).
    auto [hold, release] = goro::with_cancel(goro::background());
    wf::async_result later = e.submit(wf::task("stamp").delay(1h), hold);
    EXPECT_EQ(later.state(), wf::task_state::pending);
    release();
    later.wait();
    EXPECT_EQ(later.state(), wf::task_state::cancelled);

    // Both: the later one. A delayed step in a chain waits from its start.
    t0 = sc::now();
    wf::async_result both = e.submit(wf::task("stamp").eta(t0 + 10ms).delay(70ms));
    EXPECT_GE(elapsed(both.get_as<std::int64_t>(), t0), 70ms);
    t0 = sc::now();
    wf::async_result ch = e.submit(wf::chain(wf::task("stamp").delay(20ms), wf::task("stamp").immutable().delay(30ms)));
    EXPECT_GE(elapsed(ch.get_as<std::int64_t>(), t0), 50ms);
  });
}

TEST_P(Workflow, PeriodicRunsUntilItsContextIsCancelled) {
  goro::run(opts(), [] {
    wf::engine e(goro::background());
    goro::chan<int> ticks(100);
    std::atomic<int> calls{0};
    e.register_task("tick", [&] {
      const int n = ++calls;
      ticks.try_send(n);
      return n;
    });
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    wf::periodic_job job = e.periodic(wf::task("tick"), 2ms, ctx);
    for (int i = 1; i <= 3; i++) EXPECT_EQ(ticks.recv(), i);
    cancel();
    job.wait();
    const std::int64_t runs = job.runs();
    EXPECT_GE(runs, 3);
    EXPECT_LE(calls.load(), runs);
    EXPECT_TRUE(job.last().is_ready());

    // stop() ends a job too, while its run waits in a delay.
    wf::periodic_job slow = e.periodic(wf::task("tick").delay(1h), 1ms, goro::background());
    EXPECT_TRUE(eventually([&] { return slow.runs() == 1; }));
    slow.stop();
    slow.wait();
    EXPECT_EQ(slow.last().state(), wf::task_state::cancelled);
    EXPECT_EQ(slow.runs(), 1);
  });
}

TEST_P(Workflow, CancellingTheRunSettlesQueuedDelayedRetryingAndRunningTasks) {
  goro::run(opts(), [] {
    auto broker = std::make_shared<wf::memory_broker>();
    goro::chan<int> gate;  // held shut until the engine goes
    std::atomic<bool> hold_saw_cancel{false}, stubborn_returned{false};
    {
      wf::engine e(goro::background(), {.concurrency = 2, .broker = broker});
      // Lets the engine's destructor, which waits for "stubborn", return
      // even when an assertion below leaves the block early.
      struct open_gate {
        goro::chan<int>& g;
        ~open_gate() { g.close(); }
      } opener{gate};
      e.register_task("hold", [&](const goro::context& c) {
        c.done().recv();
        hold_saw_cancel = c.err() == goro::context_error::canceled;
      });
      e.register_task("stubborn", [&] {  // ignores its context
        gate.recv();
        stubborn_returned = true;
        return 1;
      });
      e.register_task("fail", []() -> int { throw std::runtime_error("again"); });
      e.register_task("one", [] { return 1; });
      e.register_task("inc", [](std::int64_t x) { return x + 1; });

      auto [ctx, cancel] = goro::with_cancel(goro::background());
      std::vector<wf::async_result> all;
      // Waiting to retry, for an hour.
      wf::async_result retrying = e.submit(wf::task("fail").retry({.max_retries = 3, .backoff = 1h}), ctx);
      ASSERT_TRUE(eventually([&] { return retrying.state() == wf::task_state::retry; }));
      all.push_back(retrying);
      // A chain whose first step is done and whose second waits an hour.
      wf::async_result chain = e.submit(wf::chain(wf::task("one"), wf::task("inc").delay(1h)), ctx);
      ASSERT_TRUE(eventually([&] { return chain.children()[0].state() == wf::task_state::success; }));
      all.push_back(chain);
      // Running: both workers busy.
      wf::async_result hold = e.submit(wf::task("hold"), ctx);
      wf::async_result stubborn = e.submit(wf::task("stubborn"), ctx);
      ASSERT_TRUE(eventually([&] {
        return hold.state() == wf::task_state::started && stubborn.state() == wf::task_state::started;
      }));
      all.push_back(hold);
      all.push_back(stubborn);
      // Queued behind them, and delayed.
      for (int i = 0; i < 5; i++) all.push_back(e.submit(wf::task("one"), ctx));
      wf::async_result delayed = e.submit(wf::task("one").delay(1h), ctx);
      all.push_back(delayed);
      for (auto& r : all) EXPECT_FALSE(r.is_ready());
      EXPECT_EQ(broker->size(), 8u);  // retrying, the chain's step, 5 queued, delayed

      cancel("shop closed");
      // A result that never settled would end this wait with deadline_exceeded.
      auto [bound, unbound] = goro::with_timeout(goro::background(), 10s);
      for (auto& r : all) {
        try {
          r.get(bound);
          ADD_FAILURE() << r.name() << " succeeded";
        } catch (const goro::context_done_error& x) {
          EXPECT_EQ(x.err(), goro::context_error::canceled);
          EXPECT_STREQ(x.what(), "shop closed");
        } catch (const std::exception& x) {
          ADD_FAILURE() << r.name() << ": " << x.what();
        }
        EXPECT_EQ(r.state(), wf::task_state::cancelled) << r.name();
      }
      unbound();
      EXPECT_EQ(retrying.attempts(), 1);
      EXPECT_EQ(delayed.attempts(), 0);
      EXPECT_EQ(chain.children()[0].state(), wf::task_state::success);
      EXPECT_EQ(chain.children()[1].state(), wf::task_state::cancelled);
      EXPECT_EQ(chain.children()[1].attempts(), 0);
      EXPECT_TRUE(eventually([&] { return broker->size() == 0; }));  // revoked, not left to expire
      EXPECT_TRUE(eventually([&] { return hold_saw_cancel.load(); }));
      EXPECT_FALSE(stubborn_returned.load());
    }
    EXPECT_TRUE(stubborn_returned.load());
  });
}

TEST_P(Workflow, ContextDoneBeforeSubmitAndEngineStop) {
  goro::run(opts(), [] {
    auto [engine_ctx, stop_engine] = goro::with_cancel(goro::background());
    wf::engine e(engine_ctx, {.concurrency = 1});
    e.register_task("one", [] { return 1; });

    auto [done, cancel] = goro::with_cancel(goro::background());
    cancel();
    wf::async_result r = e.submit(wf::task("one"), done);
    EXPECT_TRUE(throws<goro::context_done_error>(r));
    EXPECT_EQ(r.state(), wf::task_state::cancelled);

    // The engine's context ends: its runs are cancelled, later submits fail.
    wf::async_result later = e.submit(wf::task("one").delay(1h));
    stop_engine("closing time");
    EXPECT_EQ(failure_of(later), "closing time");
    EXPECT_EQ(later.state(), wf::task_state::cancelled);
    EXPECT_THROW(e.submit(wf::task("one")), wf::workflow_error);
    EXPECT_THROW(e.periodic(wf::task("one"), 1ms, goro::background()), wf::workflow_error);
    e.stop();
    e.stop();  // idempotent
  });
  goro::run(opts(), [] {
    wf::async_result left;
    {
      wf::engine e(goro::background());
      e.register_task("one", [] { return 1; });
      left = e.submit(wf::task("one").delay(1h));
    }  // destroyed with a run queued
    EXPECT_EQ(failure_of(left), "goro::workflow: engine stopped");
  });
}

// A broker of one's own, over the memory broker: every message is
// delivered twice (an at-least-once broker), and publishing one task's
// messages fails.
class twice_broker final : public wf::broker {
 public:
  void publish(wf::task_message m) override {
    if (m.name == "unsendable") throw std::runtime_error("broker down");
    published++;
    wf::task_message copy = m;
    inner.publish(std::move(m));
    inner.publish(std::move(copy));
  }
  std::optional<wf::task_message> consume(const goro::context& ctx) override { return inner.consume(ctx); }
  void ack(const wf::task_message& m) override {
    acked++;
    inner.ack(m);
  }
  void revoke(const std::string& id) override { inner.revoke(id); }
  void close() override { inner.close(); }

  wf::memory_broker inner;
  std::atomic<int> published{0}, acked{0};
};

TEST_P(Workflow, ACustomBrokerDeliveringTwiceRunsEachAttemptOnce) {
  auto broker = std::make_shared<twice_broker>();
  std::atomic<int> calls{0};
  goro::run(opts(), [&] {
    wf::engine e(goro::background(), {.concurrency = 4, .broker = broker});
    register_math(e);
    e.register_task("counted", [&](std::int64_t x) {
      calls++;
      goro::this_fiber::yield();  // its duplicate may be delivered meanwhile
      goro::this_fiber::yield();
      return x;
    });
    e.register_task("unsendable", [] { return 0; });
    std::vector<wf::flow> fs;
    for (int i = 0; i < 20; i++) fs.push_back(wf::task("counted", i));
    wf::async_result r = e.submit(wf::chord(wf::group(fs), wf::task("sum")));
    EXPECT_EQ(r.get_as<int>(), 190);
    EXPECT_EQ(calls.load(), 20);

    // A message the broker refuses fails its task with the broker's error.
    wf::async_result lost = e.submit(wf::chain(wf::task("counted", 1), wf::task("unsendable").immutable()));
    EXPECT_EQ(failure_of(lost), "broker down");
    EXPECT_EQ(lost.children()[1].state(), wf::task_state::failure);
    EXPECT_EQ(lost.children()[1].attempts(), 0);
  });
  EXPECT_EQ(calls.load(), 21);
  EXPECT_EQ(broker->published.load(), 22);  // 20 members, sum, counted
  EXPECT_GE(broker->acked.load(), 22);      // and some of the duplicates
}

TEST_P(Workflow, StatesAreObservable) {
  goro::run(opts(), [] {
    EXPECT_STREQ(wf::to_string(wf::task_state::retry), "retry");
    EXPECT_STREQ(wf::to_string(wf::value_kind::list), "list");
    wf::engine e(goro::background(), {.concurrency = 1});
    goro::chan<int> gate;
    e.register_task("gated", [&] { return gate.recv().value_or(-1); });
    e.register_task("inc", [](std::int64_t x) { return x + 1; });
    e.register_task("one", [] { return 1; });

    wf::async_result r = e.submit(wf::chain(wf::task("gated"), wf::task("inc")));
    EXPECT_TRUE(eventually([&] { return r.children()[0].state() == wf::task_state::started; }));
    EXPECT_EQ(r.state(), wf::task_state::started);
    EXPECT_EQ(r.children()[1].state(), wf::task_state::pending);
    wf::async_result queued = e.submit(wf::task("one"));  // behind the only worker
    EXPECT_EQ(queued.state(), wf::task_state::pending);
    EXPECT_FALSE(queued.is_ready());
    EXPECT_NE(queued.id(), r.id());

    gate.send(41);
    goro::select(goro::on_ready(r.future()));  // a select case, no polling
    EXPECT_EQ(r.get_as<int>(), 42);
    EXPECT_EQ(r.state(), wf::task_state::success);
    EXPECT_EQ(r.children()[1].state(), wf::task_state::success);
    EXPECT_EQ(queued.get_as<int>(), 1);

    auto [ctx, cancel] = goro::with_timeout(goro::background(), 1ms);
    wf::async_result never = e.submit(wf::task("one").delay(1h));
    EXPECT_THROW(never.get(ctx), goro::context_done_error);  // the wait gave up; the task did not
    EXPECT_EQ(never.state(), wf::task_state::pending);
    cancel();
    EXPECT_THROW(wf::async_result().state(), wf::workflow_error);
  });
}

// Submitters on several fibers, some runs cancelled as they go.
TEST_P(Workflow, ManyRunsAtOnce) {
  const int per = static_cast<int>(goro_test::scaled(200));
  std::atomic<int> succeeded{0}, cancelled{0};
  goro::run(opts(), [&] {
    wf::engine e(goro::background(), {.concurrency = 8});
    register_math(e);
    goro::wait_group submitters;
    submitters.add(4);
    for (int s = 0; s < 4; s++) {
      goro::go([&, s] {
        std::vector<std::pair<std::int64_t, wf::async_result>> runs;
        for (int i = 0; i < per; i++) {
          const std::int64_t x = s * 100000 + i;
          auto f = wf::chord(wf::group({wf::task("add", x, 1), wf::task("mul", x, 2)}), wf::task("sum"));
          if (i % 5 == 0) {
            auto [ctx, cancel] = goro::with_cancel(goro::background());
            runs.emplace_back(x, e.submit(f, ctx));
            goro::this_fiber::yield();
            cancel();
          } else {
            runs.emplace_back(x, e.submit(f));
          }
        }
        for (auto& [x, r] : runs) {
          try {
            EXPECT_EQ(r.get_as<std::int64_t>(), 3 * x + 1);
            EXPECT_EQ(r.state(), wf::task_state::success);
            succeeded++;
          } catch (const goro::context_done_error&) {
            EXPECT_EQ(r.state(), wf::task_state::cancelled);
            for (const auto& part : r.children()) EXPECT_TRUE(part.is_ready());
            cancelled++;
          } catch (const std::exception& err) {  // a failure, not an escape from the fiber
            ADD_FAILURE() << "run " << x << ": " << err.what();
          }
        }
        submitters.done();
      });
    }
    submitters.wait();
  });
  EXPECT_EQ(succeeded.load() + cancelled.load(), 4 * per);
  EXPECT_GE(succeeded.load(), 4 * per * 4 / 5);
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Procs, Workflow, ::testing::Values(1, 4), ::goro_test::procs_name);
