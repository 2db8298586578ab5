// goro::pool and goro::pool_with_func: capacity, waiting and failing
// submitters, tune, expiry, release / reboot, wait, futures, the nested
// submit of a full pool's own worker, contexts, exceptions.
//
// Conditions other fibers bring about (a submitter is now waiting, idle
// workers have expired) are awaited by polling the pool's counters with
// short sleeps, up to 10 s; nothing asserts how long anything took.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "runtime_fixture.hpp"
#include "toolkit/toolkit_util.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;

class Pool : public goro_test::RuntimeTest {};

using goro_test::concurrency;
using goro_test::toolkit::eventually;

// A task body that occupies a worker until `gate` is closed.
auto stuck(goro::chan<int> gate) {
  return [gate]() mutable { gate.recv(); };
}

void capacity_is_never_exceeded(const goro::options& o, std::int64_t queue_size) {
  const int per = static_cast<int>(goro_test::scaled(2000));
  concurrency c;
  std::atomic<int> ran{0};
  goro::run(o, [&] {
    goro::pool p({.capacity = 8, .queue_size = queue_size});
    goro::wait_group submitters;
    submitters.add(4);
    for (int s = 0; s < 4; s++)
      goro::go([&] {
        for (int i = 0; i < per; i++)
          p.submit([&] {
            c.enter();
            goro::this_fiber::yield();
            goro::this_fiber::yield();
            ran++;
            c.leave();
          });
        submitters.done();
      });
    submitters.wait();
    p.wait();
    EXPECT_LE(p.running(), 8);
    EXPECT_EQ(p.completed(), 4 * per);
    EXPECT_EQ(p.pending(), 0);
    EXPECT_TRUE(p.release(10s));
  });
  EXPECT_EQ(ran.load(), 4 * per);
  EXPECT_LE(c.max.load(), 8);
  EXPECT_GE(c.max.load(), 1);
}

TEST_P(Pool, CapacityIsNeverExceeded) { capacity_is_never_exceeded(opts(), 0); }
TEST_P(Pool, CapacityIsNeverExceededWithAQueue) { capacity_is_never_exceeded(opts(), 16); }

TEST_P(Pool, TrySubmitFailsWhenFull) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 2});
    goro::chan<int> gate;
    p.submit(stuck(gate));
    p.submit(stuck(gate));
    EXPECT_EQ(p.busy(), 2);
    int ran = 0;
    EXPECT_FALSE(p.try_submit([&] { ran++; }));
    EXPECT_EQ(p.pending(), 2);
    gate.close();
    p.wait();
    EXPECT_TRUE(p.try_submit([&] { ran++; }));
    p.wait();
    EXPECT_EQ(ran, 1);
    EXPECT_EQ(p.completed(), 3);
  });
}

TEST_P(Pool, NonblockingSubmitThrowsWhenFull) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 1, .nonblocking = true});
    goro::chan<int> gate;
    p.submit(stuck(gate));
    EXPECT_THROW(p.submit([] {}), goro::pool_overload_error);
    EXPECT_THROW(p.submit_future([] { return 1; }), goro::pool_overload_error);
    EXPECT_EQ(p.waiting(), 0);
    gate.close();
    p.wait();
    EXPECT_EQ(p.submit_future([] { return 7; }).get(), 7);
  });
}

TEST_P(Pool, SubmittersOverTheBoundFailAtOnce) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 1, .max_blocking_submitters = 2});
    goro::chan<int> gate;
    p.submit(stuck(gate));
    std::atomic<int> ran{0};
    goro::wait_group waiters;
    waiters.add(2);
    for (int i = 0; i < 2; i++)
      goro::go([&] {
        p.submit([&] { ran++; });  // waits: the pool is full
        waiters.done();
      });
    ASSERT_TRUE(eventually([&] { return p.waiting() == 2; }));
    // The third would wait too: over the bound, it fails without waiting.
    EXPECT_THROW(p.submit([&] { ran++; }), goro::pool_overload_error);
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    EXPECT_THROW(p.submit(ctx, [&] { ran++; }), goro::pool_overload_error);
    cancel();
    EXPECT_EQ(p.waiting(), 2);
    gate.close();
    EXPECT_TRUE(waiters.wait_for(10s));
    p.wait();
    EXPECT_EQ(ran.load(), 2);
    EXPECT_EQ(p.waiting(), 0);
    EXPECT_EQ(p.completed(), 3);
  });
}

TEST_P(Pool, TuneUpServesAWaitingSubmitter) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 1});
    goro::chan<int> gate, second_ran(1);
    p.submit(stuck(gate));
    goro::wait_group submitted;
    submitted.add(1);
    goro::go([&] {
      p.submit([&] { second_ran.send(1); });
      submitted.done();
    });
    ASSERT_TRUE(eventually([&] { return p.waiting() == 1; }));
    p.tune(2);
    EXPECT_EQ(p.capacity(), 2);
    // The second task runs while the first still holds its worker.
    EXPECT_TRUE(submitted.wait_for(10s));
    goro::select(goro::on_recv(second_ran), goro::on_recv(goro::after(10s)));
    EXPECT_EQ(p.completed(), 1);
    EXPECT_EQ(p.busy(), 1);
    gate.close();
    p.wait();
    EXPECT_EQ(p.completed(), 2);
    EXPECT_THROW(p.tune(0), std::invalid_argument);
  });
}

TEST_P(Pool, TuneDownAndUpUnderLoad) {
  concurrency c;
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 8});
    std::atomic<bool> stop{false};  // seq_cst: a flag the test flips once
    std::atomic<int> submitted{0};
    goro::wait_group load;
    load.add(4);
    for (int s = 0; s < 4; s++)
      goro::go([&] {
        while (!stop.load()) {
          p.submit([&] {
            c.enter();
            goro::this_fiber::yield();
            c.leave();
          });
          submitted++;
        }
        load.done();
      });
    for (int round = 0; round < 3; round++) {
      p.tune(2);
      // Workers over the new capacity leave after their task.
      ASSERT_TRUE(eventually([&] { return p.running() <= 2; }));
      c.max = 0;
      const int before = submitted.load();
      ASSERT_TRUE(eventually([&] { return submitted.load() > before + 200; }));
      EXPECT_LE(c.max.load(), 2) << "round " << round;
      p.tune(6);
      const int before_up = submitted.load();
      ASSERT_TRUE(eventually([&] { return submitted.load() > before_up + 200; }));
      EXPECT_LE(p.running(), 6);
    }
    stop = true;
    EXPECT_TRUE(load.wait_for(10s));
    p.wait();
    EXPECT_EQ(p.completed(), submitted.load());
    EXPECT_LE(p.running(), 6);
    EXPECT_TRUE(p.release(10s));
  });
  EXPECT_LE(c.max.load(), 6);
}

TEST_P(Pool, IdleWorkersExpire) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 10, .expiry = 20ms});
    for (int round = 0; round < 2; round++) {
      goro::chan<int> gate;
      for (int i = 0; i < 10; i++) p.submit(stuck(gate));  // ten workers at once
      EXPECT_EQ(p.running(), 10);
      gate.close();
      p.wait();
      ASSERT_TRUE(eventually([&] { return p.running() == 0; })) << "running " << p.running();
      EXPECT_EQ(p.idle(), 0);
      // A pool whose workers all expired starts new ones (the next round).
    }
    EXPECT_TRUE(p.release(10s));
  });
}

TEST_P(Pool, WorkersNeverExpireWithoutExpiry) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 4, .expiry = std::chrono::nanoseconds(0)});
    goro::chan<int> gate;
    for (int i = 0; i < 4; i++) p.submit(stuck(gate));
    gate.close();
    p.wait();
    ASSERT_TRUE(eventually([&] { return p.idle() == 4; }));
    goro::this_fiber::sleep_for(100ms);  // longer than any expiry check would take
    EXPECT_EQ(p.running(), 4);
    EXPECT_TRUE(p.release(10s));
    EXPECT_EQ(p.running(), 0);
  });
}

TEST_P(Pool, ReleaseWithTimeoutWaitsForBusyWorkers) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 2});
    goro::chan<int> gate;
    p.submit(stuck(gate));
    p.submit([] {});
    EXPECT_FALSE(p.release(20ms));  // a task is stuck
    EXPECT_TRUE(p.released());
    EXPECT_THROW(p.submit([] {}), goro::pool_closed_error);
    EXPECT_THROW(p.try_submit([] {}), goro::pool_closed_error);
    gate.close();
    EXPECT_TRUE(p.release(10s));
    EXPECT_EQ(p.running(), 0);
    EXPECT_EQ(p.completed(), 2);
    // reboot opens it again.
    p.reboot();
    EXPECT_FALSE(p.released());
    EXPECT_EQ(p.submit_future([] { return 5; }).get(), 5);
    EXPECT_TRUE(p.release(10s));
  });
}

TEST_P(Pool, ReleaseFailsWaitingSubmitters) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 1});
    goro::chan<int> gate;
    p.submit(stuck(gate));
    std::atomic<int> closed{0}, ran{0};
    goro::wait_group waiters;
    waiters.add(2);
    for (int i = 0; i < 2; i++)
      goro::go([&] {
        try {
          p.submit([&] { ran++; });
        } catch (const goro::pool_closed_error&) {
          closed++;
        }
        waiters.done();
      });
    ASSERT_TRUE(eventually([&] { return p.waiting() == 2; }));
    p.release();
    EXPECT_TRUE(waiters.wait_for(10s));
    EXPECT_EQ(closed.load(), 2);
    EXPECT_EQ(p.waiting(), 0);
    gate.close();
    EXPECT_TRUE(p.release(10s));
    EXPECT_EQ(ran.load(), 0);
  });
}

TEST_P(Pool, WaitReturnsOnceEveryTaskIsDone) {
  const int n = static_cast<int>(goro_test::scaled(5000));
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 16});
    for (int round = 0; round < 3; round++) {
      std::atomic<int> done{0};
      for (int i = 0; i < n; i++)
        p.submit([&done, i] {
          if (i % 7 == 0) goro::this_fiber::yield();
          done++;
        });
      p.wait();
      EXPECT_EQ(done.load(), n);
      EXPECT_EQ(p.pending(), 0);
      EXPECT_EQ(p.busy(), 0);
    }
    EXPECT_EQ(p.completed(), 3 * n);
    EXPECT_TRUE(p.wait_for(1s));  // nothing pending
  });
}

TEST_P(Pool, FuturesCarryValuesAndExceptions) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 3});
    std::vector<goro::future<int>> fs;
    for (int i = 0; i < 100; i++) fs.push_back(p.submit_future([i] { return i * i; }));
    for (int i = 0; i < 100; i++) EXPECT_EQ(fs[static_cast<std::size_t>(i)].get(), i * i);

    auto bad = p.submit_future([]() -> int { throw std::runtime_error("bad value"); });
    try {
      bad.get();
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "bad value");
    }
    int side = 0;
    goro::future<void> v = p.submit_future([&] { side = 1; });
    v.get();
    EXPECT_EQ(side, 1);
    auto up = p.submit_future([] { return std::make_unique<int>(9); });
    EXPECT_EQ(*up.get(), 9);
    // The future form stores exceptions: the handler and failed() stay out.
    p.wait();
    EXPECT_EQ(p.failed(), 0);
  });
}

TEST_P(Pool, NestedSubmitFromAFullPoolsWorkerRunsInline) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 1});
    std::uint64_t outer_id = 0, inner_id = 0;
    bool inner_done_before_return = false;
    int future_value = 0;
    p.submit([&] {
      outer_id = goro::this_fiber::id();
      bool inner_ran = false;
      p.submit([&] {  // the only worker is this one: full
        inner_id = goro::this_fiber::id();
        inner_ran = true;
      });
      inner_done_before_return = inner_ran;
      auto f = p.submit_future([] { return 11; });
      future_value = f.is_ready() ? f.get() : -1;
      EXPECT_THROW(p.wait(), std::logic_error);
    });
    p.wait();
    EXPECT_TRUE(inner_done_before_return);
    EXPECT_EQ(inner_id, outer_id);
    EXPECT_EQ(future_value, 11);
    EXPECT_EQ(p.completed(), 3);

    // With nonblocking it fails instead, like every submit to a full pool.
    goro::pool nb({.capacity = 1, .nonblocking = true});
    bool threw = false;
    nb.submit([&] {
      try {
        nb.submit([] {});
      } catch (const goro::pool_overload_error&) {
        threw = true;
      }
    });
    nb.wait();
    EXPECT_TRUE(threw);
  });
}

TEST_P(Pool, NestedSubmitWithRoomGoesToAnotherWorker) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 2});
    std::uint64_t outer_id = 0;
    std::atomic<std::uint64_t> inner_id{0};
    goro::chan<int> inner_started(1);
    p.submit([&] {
      outer_id = goro::this_fiber::id();
      p.submit([&] {
        inner_id = goro::this_fiber::id();
        inner_started.send(1);
      });
      inner_started.recv();  // runs elsewhere: waiting here cannot deadlock
    });
    p.wait();
    EXPECT_NE(inner_id.load(), outer_id);
  });
}

TEST_P(Pool, SubmitWithContextGivesUp) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 1});
    goro::chan<int> gate;
    p.submit(stuck(gate));
    std::atomic<int> ran{0};

    // Cancelled while waiting.
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    goro::context_error got = goro::context_error::none;
    goro::wait_group w;
    w.add(1);
    goro::go([&, ctx = ctx] {
      try {
        p.submit(ctx, [&] { ran++; });
      } catch (const goro::context_done_error& e) {
        got = e.err();
      }
      w.done();
    });
    ASSERT_TRUE(eventually([&] { return p.waiting() == 1; }));
    cancel();
    EXPECT_TRUE(w.wait_for(10s));
    EXPECT_EQ(got, goro::context_error::canceled);
    EXPECT_EQ(p.waiting(), 0);

    // A deadline while waiting.
    auto [dctx, dcancel] = goro::with_timeout(goro::background(), 10ms);
    try {
      p.submit(dctx, [&] { ran++; });
      ADD_FAILURE() << "no exception";
    } catch (const goro::context_done_error& e) {
      EXPECT_EQ(e.err(), goro::context_error::deadline_exceeded);
    }
    dcancel();
    auto [fctx, fcancel] = goro::with_timeout(goro::background(), 10ms);
    EXPECT_THROW(p.submit_future(fctx, [] { return 1; }), goro::context_done_error);
    fcancel();

    gate.close();
    p.wait();
    // Already done: throws even though the pool has room.
    EXPECT_THROW(p.submit(ctx, [&] { ran++; }), goro::context_done_error);
    EXPECT_EQ(ran.load(), 0);
    EXPECT_EQ(p.waiting(), 0);
    // A context that is never done changes nothing.
    p.submit(goro::background(), [&] { ran++; });
    p.wait();
    EXPECT_EQ(ran.load(), 1);
  });
}

TEST_P(Pool, ExceptionsGoToTheHandlerAndThePoolGoesOn) {
  goro::run(opts(), [&] {
    std::atomic<int> handled{0};
    std::string last;  // written by handlers, read after wait()
    goro::mutex mu;
    goro::pool p({.capacity = 2, .panic_handler = [&](std::exception_ptr e) {
                    try {
                      std::rethrow_exception(e);
                    } catch (const std::exception& x) {
                      std::lock_guard<goro::mutex> l(mu);
                      last = x.what();
                    }
                    handled++;
                  }});
    std::atomic<int> ok{0};
    for (int i = 0; i < 100; i++)
      p.submit([&, i] {
        if (i % 2) throw std::runtime_error("task " + std::to_string(i));
        ok++;
      });
    p.wait();
    EXPECT_EQ(handled.load(), 50);
    EXPECT_EQ(ok.load(), 50);
    EXPECT_EQ(p.failed(), 50);
    EXPECT_EQ(p.completed(), 100);
    EXPECT_EQ(last.rfind("task ", 0), 0u);
    EXPECT_LE(p.running(), 2);
  });
}

TEST_P(Pool, UncaughtExceptionIsReportedByDefault) {
  testing::internal::CaptureStderr();
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 1});
    p.submit([] { throw std::runtime_error("boom in a task"); });
    p.submit([] { throw 42; });
    p.wait();
    EXPECT_EQ(p.failed(), 2);
    EXPECT_EQ(p.submit_future([] { return 3; }).get(), 3);  // the pool goes on
  });
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("goro: pool task threw: boom in a task"), std::string::npos) << err;
  EXPECT_NE(err.find("not derived from std::exception"), std::string::npos) << err;
}

// A task left blocked when main returns is unwound with fiber_cancelled:
// that must end its worker quietly, not reach the handler.
TEST_P(Pool, FiberCancelledIsNotHandled) {
  std::atomic<int> handled{0}, unwound{0};
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 2, .panic_handler = [&](std::exception_ptr) { handled++; }});
    goro::chan<int> never;
    struct note {
      std::atomic<int>* n;
      ~note() { (*n)++; }
    };
    p.submit([&, never]() mutable {
      note on_exit{&unwound};
      never.recv();
    });
    // main returns with the task blocked; ~pool releases without waiting.
  });
  EXPECT_EQ(handled.load(), 0);
  EXPECT_EQ(unwound.load(), 1);
}

TEST_P(Pool, SubmitFromAPlainThreadThrows) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 1});
    bool threw = false;
    std::thread t([&] {
      try {
        p.submit([] {});
      } catch (const std::logic_error&) {
        threw = true;
      }
    });
    goro::blocking([&] { t.join(); });
    EXPECT_TRUE(threw);
    // The counters and release are fine from anywhere.
    std::int64_t cap = 0;
    std::thread u([&] {
      cap = p.capacity();
      p.release();
    });
    goro::blocking([&] { u.join(); });
    EXPECT_EQ(cap, 1);
    EXPECT_TRUE(p.released());
  });
}

TEST_P(Pool, DestroyedWhileBusyLetsTasksFinish) {
  std::atomic<int> ran{0};
  goro::run(opts(), [&] {
    goro::chan<int> gate;
    {
      goro::pool p({.capacity = 4});
      for (int i = 0; i < 4; i++)
        p.submit([&ran, gate]() mutable {
          gate.recv();
          ran++;
        });
    }
    gate.close();  // the workers finish after their pool is gone
  });
  EXPECT_EQ(ran.load(), 4);
}

TEST_P(Pool, BadOptionsThrow) {
  EXPECT_THROW(goro::pool({.capacity = 0}), std::invalid_argument);
  EXPECT_THROW(goro::pool({.capacity = 1, .max_blocking_submitters = -1}), std::invalid_argument);
  EXPECT_THROW(goro::pool({.capacity = 1, .queue_size = -1}), std::invalid_argument);
}

// queue_size: tasks accepted while every worker is busy, run in order.
TEST_P(Pool, QueueTakesTasksWhileWorkersAreBusyAndRunsThemInOrder) {
  goro::run(opts(), [&] {
    // One worker: it runs what the queue holds strictly in turn.
    goro::pool p({.capacity = 1, .queue_size = 3});
    goro::chan<int> gate;
    p.submit(stuck(gate));
    std::vector<int> order;  // written by the one worker, read after wait()
    auto record = [&](int v) { return [&order, v] { order.push_back(v); }; };
    // Accepted without waiting although the worker is busy.
    p.submit(record(1));
    EXPECT_TRUE(p.try_submit(record(2)));
    p.submit(record(3));
    EXPECT_EQ(p.queued(), 3);
    EXPECT_EQ(p.pending(), 4);
    EXPECT_EQ(p.busy(), 1);
    // The queue is full: now the pool is.
    EXPECT_FALSE(p.try_submit(record(99)));
    goro::wait_group submitted;
    submitted.add(1);
    goro::go([&] {
      p.submit(record(4));  // waits for a place in the queue
      submitted.done();
    });
    ASSERT_TRUE(eventually([&] { return p.waiting() == 1; }));
    EXPECT_EQ(p.queued(), 3);
    gate.close();
    EXPECT_TRUE(submitted.wait_for(10s));
    p.wait();
    EXPECT_EQ(p.queued(), 0);
    EXPECT_EQ(p.waiting(), 0);
    EXPECT_EQ(p.completed(), 5);
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
  });
}

TEST_P(Pool, ReleaseStillRunsQueuedTasks) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 1, .queue_size = 2});
    goro::chan<int> gate;
    std::atomic<int> ran{0};
    p.submit(stuck(gate));
    p.submit([&] { ran++; });
    p.submit([&] { ran++; });
    EXPECT_EQ(p.queued(), 2);
    p.release();
    EXPECT_THROW(p.submit([&] { ran++; }), goro::pool_closed_error);
    gate.close();
    EXPECT_TRUE(p.release(10s));  // every fiber of the pool has left...
    EXPECT_EQ(ran.load(), 2);     // ...after running what it had accepted
    EXPECT_EQ(p.completed(), 3);
    EXPECT_EQ(p.running(), 0);
  });
}

TEST_P(Pool, TuneUpStartsWorkersForQueuedTasks) {
  goro::run(opts(), [&] {
    goro::pool p({.capacity = 1, .queue_size = 4});
    goro::chan<int> gate, done(4);
    p.submit(stuck(gate));
    for (int i = 0; i < 4; i++) p.submit([&] { done.send(1); });
    EXPECT_EQ(p.queued(), 4);
    p.tune(5);
    // The queued tasks run while the first still holds its worker.
    for (int i = 0; i < 4; i++) {
      bool got = false;
      goro::select(goro::on_recv(done, [&] { got = true; }), goro::on_recv(goro::after(10s)));
      ASSERT_TRUE(got) << i;
    }
    EXPECT_EQ(p.busy() >= 1, true);
    gate.close();
    p.wait();
    EXPECT_EQ(p.completed(), 5);
    EXPECT_LE(p.running(), 5);
  });
}

TEST_P(Pool, PoolWithFuncInvokesOneFunction) {
  goro::run(opts(), [&] {
    std::atomic<long> sum{0};
    goro::pool_with_func<int> p({.capacity = 4}, [&](int v) { sum += v; });
    for (int i = 1; i <= 1000; i++) p.invoke(i);
    p.wait();
    EXPECT_EQ(sum.load(), 1000L * 1001 / 2);
    EXPECT_EQ(p.completed(), 1000);

    goro::chan<int> gate;
    goro::pool_with_func<goro::chan<int>> q({.capacity = 1}, [](goro::chan<int> g) { g.recv(); });
    q.invoke(gate);
    EXPECT_FALSE(q.try_invoke(gate));
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    cancel();
    EXPECT_THROW(q.invoke(ctx, gate), goro::context_done_error);
    gate.close();
    q.wait();
    EXPECT_TRUE(q.try_invoke(gate));  // closed: returns at once
    EXPECT_TRUE(q.release(10s));
    EXPECT_EQ(q.completed(), 2);
  });
}

// Many short rounds with every form mixed, several submitters, release at
// the end of each: exercises the hand-offs under real parallelism.
TEST_P(Pool, ManyRounds) {
  const int rounds = static_cast<int>(goro_test::scaled(200));
  goro::run(opts(), [&] {
    for (int r = 0; r < rounds; r++) {
      const int cap = 1 + r % 7;
      goro::pool p({.capacity = cap, .expiry = (r % 3 == 0) ? 1ms : 1s});
      concurrency c;
      std::atomic<int> ran{0};
      std::atomic<long> fsum{0};
      goro::wait_group subs;
      subs.add(4);
      for (int s = 0; s < 4; s++)
        goro::go([&, s] {
          for (int i = 0; i < 50; i++) {
            auto body = [&, i] {
              c.enter();
              if (i % 5 == 0) goro::this_fiber::yield();
              ran++;
              c.leave();
            };
            if (i % 10 == 3) {
              fsum += p.submit_future([body, i]() mutable {
                body();
                return i;
              }).get();
            } else if (i % 10 == 7) {
              if (!p.try_submit(body)) p.submit(body);
            } else {
              p.submit(body);
            }
            if (s == 0 && i == 25) p.tune(1 + (cap + 3) % 7);
          }
          subs.done();
        });
      subs.wait();
      p.wait();
      ASSERT_EQ(ran.load(), 200) << "round " << r;
      ASSERT_EQ(p.completed(), 200);
      ASSERT_EQ(fsum.load(), 4 * (3 + 13 + 23 + 33 + 43));
      ASSERT_LE(c.max.load(), std::max(cap, 1 + (cap + 3) % 7));
      ASSERT_TRUE(p.release(10s));
      ASSERT_EQ(p.running(), 0);
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Procs, Pool, ::testing::Values(1, 4), ::goro_test::procs_name);

}  // namespace
