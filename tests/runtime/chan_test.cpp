// Channel operations, without select: FIFO order, direct hand-off, close
// semantics (buffered values survive it, every blocked receiver and sender
// wakes), misuse errors, nil channels and shared handles, many producers
// and consumers, a pipeline; blocking receive and send for every capacity
// (0, 1, 2, 10, 100); and threads outside the runtime exchanging values
// with fibers, or a fiber inside goro::blocking using a channel. Select is
// in select_test.cpp.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using goro_test::scaled;

// ---- by procs -------------------------------------------------------------------

using Chan = goro_test::RuntimeTest;

TEST_P(Chan, BufferedIsFifoAndDrainsAfterClose) {
  goro::run(opts(), [] {
    goro::chan<int> c(5);
    for (int i = 0; i < 5; i++) c.send(i);
    EXPECT_EQ(c.size(), 5u);
    c.close();
    for (int i = 0; i < 5; i++) EXPECT_EQ(c.recv(), i);
    EXPECT_EQ(c.recv(), std::nullopt);
    EXPECT_EQ(c.recv(), std::nullopt);
  });
}

TEST_P(Chan, UnbufferedSendWaitsForAReceiver) {
  goro::run(opts(), [] {
    goro::chan<std::string> c;
    std::atomic<bool> sent{false};
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      c.send("hello");
      sent = true;
      wg.done();
    });
    for (int i = 0; i < 100; i++) goro::this_fiber::yield();
    EXPECT_FALSE(sent.load());  // nobody received yet
    EXPECT_EQ(c.recv(), "hello");
    wg.wait();
    EXPECT_TRUE(sent.load());
  });
}

TEST_P(Chan, MoveOnlyValues) {
  goro::run(opts(), [] {
    goro::chan<std::unique_ptr<int>> c(1);
    goro::go([&] { c.send(std::make_unique<int>(5)); });
    auto v = c.recv();
    ASSERT_TRUE(v && *v);
    EXPECT_EQ(**v, 5);
  });
}

TEST_P(Chan, CloseWakesEveryBlockedReceiver) {
  std::atomic<int> woke{0};
  goro::run(opts(), [&] {
    goro::chan<int> c;
    goro::wait_group wg;
    wg.add(10);
    for (int i = 0; i < 10; i++)
      goro::go([&] {
        if (!c.recv()) woke++;
        wg.done();
      });
    for (int i = 0; i < 100; i++) goro::this_fiber::yield();
    c.close();
    wg.wait();
  });
  EXPECT_EQ(woke.load(), 10);
}

TEST_P(Chan, SendOnClosedChannelThrows) {
  goro::run(opts(), [] {
    goro::chan<int> c(1);
    c.close();
    EXPECT_THROW(c.send(1), goro::closed_channel_error);
    EXPECT_THROW(c.close(), goro::closed_channel_error);
  });
}

TEST_P(Chan, CloseWhileSenderIsBlockedMakesTheSendThrow) {
  std::atomic<int> threw{0};
  goro::run(opts(), [&] {
    goro::chan<int> c;
    goro::wait_group wg;
    wg.add(3);
    for (int i = 0; i < 3; i++)
      goro::go([&] {
        try {
          c.send(1);
        } catch (const goro::closed_channel_error&) {
          threw++;
        }
        wg.done();
      });
    for (int i = 0; i < 100; i++) goro::this_fiber::yield();
    c.close();
    wg.wait();
  });
  EXPECT_EQ(threw.load(), 3);
}

// Producers send disjoint ranges; consumers sum until close. Every value
// arrives exactly once.
void mpmc(int procs, std::size_t capacity) {
  const std::int64_t per = goro_test::scaled(50000);
  constexpr int side = 4;
  std::atomic<std::int64_t> sum{0}, count{0};
  goro::run({.procs = procs}, [&] {
    goro::chan<std::int64_t> c(capacity);
    goro::wait_group prod, cons;
    prod.add(side);
    cons.add(side);
    for (int i = 0; i < side; i++)
      goro::go([&] {
        while (auto v = c.recv()) {
          sum += *v;
          count++;
        }
        cons.done();
      });
    for (std::int64_t p = 0; p < side; p++)
      goro::go([&, p] {
        for (std::int64_t i = 1; i <= per; i++) c.send(p * per + i);
        prod.done();
      });
    prod.wait();
    c.close();
    cons.wait();
  });
  const std::int64_t total = per * side;
  EXPECT_EQ(count.load(), total);
  EXPECT_EQ(sum.load(), total * (total + 1) / 2);
}

TEST_P(Chan, ManyProducersAndConsumersBuffered) { mpmc(procs(), 64); }
TEST_P(Chan, ManyProducersAndConsumersUnbuffered) { mpmc(procs(), 0); }

TEST_P(Chan, PingPong) {
  const int n = static_cast<int>(goro_test::scaled(100000));
  int final_value = 0;
  goro::run(opts(), [&] {
    goro::chan<int> a, b;
    goro::go([&] {
      for (int i = 0; i < n; i++) b.send(*a.recv() + 1);
    });
    int x = 0;
    for (int i = 0; i < n; i++) {
      a.send(x);
      x = *b.recv() + 1;
    }
    final_value = x;
  });
  EXPECT_EQ(final_value, 2 * n);
}

// 4 senders x 4 receivers: every value received exactly once.
TEST_P(Chan, EveryValueReceivedExactlyOnce) {
  for (int cap : {0, 1, 16}) {
    goro::run(opts(), [&] {
      const int n = static_cast<int>(scaled(40000));
      goro::chan<int> c(cap);
      std::vector<std::atomic<int>> seen(n);
      std::atomic<std::int64_t> sum{0};
      goro::wait_group senders, receivers;
      senders.add(4);
      receivers.add(4);
      for (int s = 0; s < 4; s++)
        goro::go([&, s] {
          for (int i = s; i < n; i += 4) c.send(i);
          senders.done();
        });
      for (int r = 0; r < 4; r++)
        goro::go([&] {
          for (int v : c) {
            seen[v]++;
            sum += v;
          }
          receivers.done();
        });
      senders.wait();
      c.close();
      receivers.wait();
      for (int i = 0; i < n; i++) ASSERT_EQ(seen[i].load(), 1) << "value " << i;
      EXPECT_EQ(sum.load(), std::int64_t(n) * (n - 1) / 2);
    });
  }
}

// A non-blocking receive racing with close on a channel holding one value
// sees the value (close does not discard buffered values), never "empty".
TEST_P(Chan, TryRecvRacingCloseNeverReportsEmpty) {
  goro::run(opts(), [] {
    const int rounds = static_cast<int>(scaled(3000));
    for (int i = 0; i < rounds; i++) {
      goro::chan<int> c(1);
      c.send(i);
      goro::wait_group wg;
      wg.add(1);
      goro::go([&] {
        c.close();
        wg.done();
      });
      auto r = c.try_recv();
      ASSERT_EQ(r.status, goro::recv_status::ok) << "round " << i;
      EXPECT_EQ(*r.value, i);
      wg.wait();
      EXPECT_EQ(c.try_recv().status, goro::recv_status::closed);
    }
  });
}

TEST_P(Chan, NilChannels) {
  goro::run(opts(), [] {
    goro::chan<int> nil(nullptr);
    EXPECT_FALSE(nil);
    EXPECT_FALSE(nil.try_send(1));
    EXPECT_EQ(nil.try_recv().status, goro::recv_status::not_ready);
    EXPECT_THROW(nil.close(), goro::closed_channel_error);
    // A moved-from handle is nil. (Nil channels in select: select_test.cpp.)
    goro::chan<int> a(1);
    a.send(3);
    goro::chan<int> moved = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is nil by contract
    EXPECT_TRUE(moved);
    EXPECT_EQ(moved.recv(), 3);  // the same channel, value and all
  });
}

TEST_P(Chan, HandlesShareOneChannel) {
  goro::run(opts(), [] {
    goro::chan<int> a(4);
    goro::chan<int> b = a;
    EXPECT_TRUE(a == b);
    EXPECT_FALSE(a == goro::chan<int>(4));
    a.send(1);
    EXPECT_EQ(b.size(), 1u);
    EXPECT_EQ(b.capacity(), 4u);
    EXPECT_EQ(b.recv(), 1);
    // A channel outlives the handle a blocked receiver was called through.
    auto* h = new goro::chan<int>();
    goro::chan<int> keep = *h;
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      EXPECT_EQ(h->recv(), 9);
      wg.done();
    });
    for (int i = 0; i < 20; i++) goro::this_fiber::yield();
    keep.send(9);
    wg.wait();
    delete h;
  });
}

// A prime sieve over chained unbuffered channels.
TEST_P(Chan, PrimeSievePipeline) {
  goro::run(opts(), [] {
    goro::chan<int> src;
    goro::go([src]() mutable {
      for (int i = 2;; i++) {
        try {
          src.send(i);
        } catch (const goro::closed_channel_error&) {
          return;
        }
      }
    });
    std::vector<goro::chan<int>> stages{src};
    std::vector<int> primes;
    goro::wait_group wg;
    goro::chan<int> in = src;
    for (int k = 0; k < 100; k++) {
      const int p = *in.recv();
      primes.push_back(p);
      goro::chan<int> out;
      stages.push_back(out);
      wg.add(1);
      goro::go([in, out, p, &wg]() mutable {
        for (;;) {
          auto v = in.recv();
          if (!v) break;
          if (*v % p == 0) continue;
          try {
            out.send(*v);
          } catch (const goro::closed_channel_error&) {
            break;
          }
        }
        wg.done();
      });
      in = out;
    }
    // Shut the pipeline down from the end: each stage exits on a closed
    // output (or input), which unblocks the stage before it.
    for (auto it = stages.rbegin(); it != stages.rend(); ++it) it->close();
    wg.wait();
    const int expect[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29};
    for (int i = 0; i < 10; i++) EXPECT_EQ(primes[i], expect[i]);
    EXPECT_EQ(primes[99], 541);
  });
}

GORO_INSTANTIATE_PROCS(Chan);

// ---- every capacity ----------------------------------------------------------

struct cap_procs {
  int cap;
  int procs;
};

class ChanCap : public goro_test::RuntimeTestWithParam<cap_procs> {
 protected:
  goro::options opts() const { return {.procs = GetParam().procs}; }
  int cap() const { return GetParam().cap; }
};

TEST_P(ChanCap, ReceiveFromEmptyBlocksUntilASend) {
  goro::run(opts(), [&] {
    goro::chan<int> c(cap());
    EXPECT_EQ(c.try_recv().status, goro::recv_status::not_ready);
    std::atomic<bool> got{false};
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      EXPECT_EQ(c.recv(), 42);
      got = true;
      wg.done();
    });
    for (int i = 0; i < 50; i++) goro::this_fiber::yield();
    EXPECT_FALSE(got.load());  // nothing was sent: the receiver must still wait
    c.send(42);
    wg.wait();
    EXPECT_TRUE(got.load());
  });
}

TEST_P(ChanCap, SendToFullBlocksUntilAReceive) {
  goro::run(opts(), [&] {
    goro::chan<int> c(cap());
    for (int i = 0; i < cap(); i++) ASSERT_TRUE(c.try_send(i));
    EXPECT_EQ(c.size(), static_cast<std::size_t>(cap()));
    EXPECT_FALSE(c.try_send(-1));  // full (or unbuffered with no receiver)
    std::atomic<bool> sent{false};
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      c.send(cap());
      sent = true;
      wg.done();
    });
    for (int i = 0; i < 50; i++) goro::this_fiber::yield();
    EXPECT_FALSE(sent.load());
    // FIFO: the buffered values first, then the blocked sender's.
    for (int i = 0; i <= cap(); i++) EXPECT_EQ(c.recv(), i);
    wg.wait();
    EXPECT_TRUE(sent.load());
    EXPECT_EQ(c.size(), 0u);
  });
}

TEST_P(ChanCap, ClosedChannelYieldsRemainingValuesInOrderThenClosed) {
  goro::run(opts(), [&] {
    goro::chan<int> c(cap());
    for (int i = 0; i < cap(); i++) c.send(i);
    c.close();
    EXPECT_THROW(c.try_send(1), goro::closed_channel_error);
    for (int i = 0; i < cap(); i++) {
      auto r = c.try_recv();
      ASSERT_EQ(r.status, goro::recv_status::ok);
      EXPECT_EQ(*r.value, i);
    }
    EXPECT_EQ(c.try_recv().status, goro::recv_status::closed);
    EXPECT_EQ(c.recv(), std::nullopt);
  });
}

TEST_P(ChanCap, CloseWakesEveryBlockedReceiverAndSender) {
  goro::run(opts(), [&] {
    constexpr int k = 8;
    goro::chan<int> empty(cap());
    goro::chan<int> full(cap());
    for (int i = 0; i < cap(); i++) full.send(i);
    std::atomic<int> receivers{0}, senders{0};
    goro::wait_group wg;
    wg.add(2 * k);
    for (int i = 0; i < k; i++) {
      goro::go([&] {
        if (!empty.recv()) receivers++;
        wg.done();
      });
      goro::go([&] {
        try {
          full.send(-1);
        } catch (const goro::closed_channel_error&) {
          senders++;
        }
        wg.done();
      });
    }
    // Wait until all 2k have blocked (each blocked fiber is a queued waiter
    // we cannot see; yield until none can have finished without close).
    for (int i = 0; i < 200; i++) goro::this_fiber::yield();
    EXPECT_EQ(receivers.load() + senders.load(), 0);
    empty.close();
    full.close();
    wg.wait();
    EXPECT_EQ(receivers.load(), k);
    EXPECT_EQ(senders.load(), k);
    for (int i = 0; i < cap(); i++) EXPECT_EQ(full.recv(), i);  // buffered values survive close
  });
}

TEST_P(ChanCap, FifoPerSender) {
  goro::run(opts(), [&] {
    constexpr int senders = 4;
    const int per = static_cast<int>(scaled(5000));
    goro::chan<std::pair<int, int>> c(cap());
    // By value: main may return (and its frame die) once it has every
    // value, before a sender has left its loop.
    for (int s = 0; s < senders; s++)
      goro::go([c, s, per]() mutable {
        for (int i = 0; i < per; i++) c.send({s, i});
      });
    std::vector<int> next(senders, 0);
    for (int n = 0; n < senders * per; n++) {
      auto v = c.recv();
      ASSERT_TRUE(v);
      ASSERT_EQ(v->second, next[v->first]) << "sender " << v->first << " out of order";
      next[v->first]++;
    }
  });
}

std::vector<cap_procs> all_cap_procs() {
  std::vector<cap_procs> v;
  for (int procs : goro_test::swept_procs())
    for (int cap : {0, 1, 2, 10, 100}) v.push_back({cap, procs});
  return v;
}

INSTANTIATE_TEST_SUITE_P(All, ChanCap, ::testing::ValuesIn(all_cap_procs()),
                         [](const ::testing::TestParamInfo<cap_procs>& p) {
                           return "cap" + std::to_string(p.param.cap) + "_procs" + std::to_string(p.param.procs);
                         });

// ---- threads outside the runtime --------------------------------------------------

using ChanThreads = goro_test::FixedRuntimeTest;

TEST_F(ChanThreads, ThreadsAndFibersExchangeValues) {
  goro::run({.procs = 2}, [] {
    const int n = static_cast<int>(scaled(20000));
    goro::chan<int> to_fibers;      // unbuffered: the thread blocks, fibers park
    goro::chan<std::int64_t> back(4);
    goro::wait_group fibers_done;
    std::int64_t thread_sum = 0;
    goro::keep_alive ka;  // fibers wait on the thread: no deadlock report
    std::thread t([&, ka = std::move(ka)]() mutable {
      for (int i = 0; i < n; i++) to_fibers.send(i);
      to_fibers.close();
      fibers_done.wait();  // a thread waiting on a wait_group
      back.close();
      ka.reset();
    });
    constexpr int workers = 4;
    fibers_done.add(workers);
    goro::wait_group collected;
    collected.add(1);
    std::thread collector([&, ka = goro::keep_alive()]() mutable {  // receives through select
      for (;;) {
        bool closed = false;
        goro::select(goro::on_recv(back, [&](std::optional<std::int64_t> v) {
          if (v) thread_sum += *v; else closed = true;
        }));
        if (closed) break;
      }
      collected.done();  // done() from a thread wakes a fiber
      ka.reset();
    });
    for (int w = 0; w < workers; w++)
      goro::go([&] {
        std::int64_t s = 0;
        for (int v : to_fibers) s += v;
        back.send(s);
        fibers_done.done();
      });
    collected.wait();
    t.join();
    collector.join();
    EXPECT_EQ(thread_sum, std::int64_t(n) * (n - 1) / 2);
  });
}

// A fiber inside goro::blocking blocks its thread on a channel instead of
// parking (it holds no P).
TEST_F(ChanThreads, ChannelOperationsInsideBlocking) {
  goro::run({.procs = 1}, [] {
    goro::chan<int> c;
    goro::go([&] { c.send(5); });
    const int v = goro::blocking([&] { return *c.recv(); });
    EXPECT_EQ(v, 5);
  });
}

}  // namespace
