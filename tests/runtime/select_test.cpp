// Channel semantics for every capacity, non-blocking operations, nil
// channels, handles, select (readiness, fairness, clean-up of losing cases,
// mixed stress), pipelines, and threads outside the runtime.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "test_util.hpp"

namespace {

using goro_test::scaled;

// ---- every capacity ----------------------------------------------------------

struct cap_procs {
  int cap;
  int procs;
};

class ChanCap : public ::testing::TestWithParam<cap_procs> {
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
  for (int procs : {1, 2, 4})
    for (int cap : {0, 1, 2, 10, 100}) v.push_back({cap, procs});
  return v;
}

INSTANTIATE_TEST_SUITE_P(All, ChanCap, ::testing::ValuesIn(all_cap_procs()),
                         [](const ::testing::TestParamInfo<cap_procs>& p) {
                           return "cap" + std::to_string(p.param.cap) + "_procs" + std::to_string(p.param.procs);
                         });

// ---- by procs -------------------------------------------------------------------

class ChanSel : public ::testing::TestWithParam<int> {
 protected:
  goro::options opts() const { return {.procs = GetParam()}; }
};

// 4 senders x 4 receivers: every value received exactly once.
TEST_P(ChanSel, EveryValueReceivedExactlyOnce) {
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
TEST_P(ChanSel, TryRecvRacingCloseNeverReportsEmpty) {
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

TEST_P(ChanSel, DefaultIsNeverTakenWhileACaseIsReady) {
  goro::run(opts(), [] {
    const int n = static_cast<int>(scaled(5000));
    goro::chan<int> a(n);   // holds a value at every instant of the loop below
    goro::chan<int> b;      // sometimes ready: a helper keeps sending
    for (int i = 0; i < n; i++) a.send(i);
    std::atomic<bool> stop{false};
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      while (!stop.load()) {
        goro::select(goro::on_send(b, 1), goro::on_default([] { goro::this_fiber::yield(); }));
      }
      wg.done();
    });
    int defaults = 0, from_a = 0, from_b = 0;
    for (int i = 0; i < n; i++) {
      goro::select(goro::on_recv(a, [&] { from_a++; }), goro::on_recv(b, [&] { from_b++; }),
                   goro::on_default([&] { defaults++; }));
    }
    stop = true;
    wg.wait();
    EXPECT_EQ(defaults, 0);
    EXPECT_EQ(from_a + from_b, n);
  });
}

TEST_P(ChanSel, ReadyCasesAreChosenUniformly) {
  goro::run(opts(), [] {
    constexpr int n = 10000;
    goro::chan<int> a(n), b(n);
    for (int i = 0; i < n; i++) {
      a.send(i);
      b.send(i);
    }
    int na = 0, nb = 0, prev_a = 0;
    for (int i = 0; i < n; i++) {
      const std::size_t which = goro::select(goro::on_recv(a, [&] { na++; }), goro::on_recv(b, [&] { nb++; }));
      ASSERT_EQ(na + nb, i + 1);  // exactly one handler ran...
      ASSERT_EQ(which, na > prev_a ? 0u : 1u);  // ...the one select reports
      prev_a = na;
    }
    EXPECT_GT(na, n * 45 / 100);
    EXPECT_GT(nb, n * 45 / 100);
    EXPECT_EQ(na + nb, n);
  });
}

// A fiber parked on the same channel in two cases (plus a send on another
// channel) and woken by a third case leaves no stale waiter behind: later
// traffic on those channels never reaches its (dead) entries. ASan would
// see a stale entry used after its select returned.
TEST_P(ChanSel, LosingCasesAreDequeued) {
  goro::run(opts(), [] {
    const int rounds = static_cast<int>(scaled(2000));
    goro::chan<int> c, out, d;
    for (int i = 0; i < rounds; i++) {
      goro::wait_group wg;
      wg.add(1);
      std::size_t chosen = 99;
      goro::go([&] {
        chosen = goro::select(goro::on_recv(c), goro::on_recv(c), goro::on_send(out, 5), goro::on_recv(d));
        wg.done();
      });
      d.send(i);  // blocks until the select takes it: only case 3 can fire
      wg.wait();
      ASSERT_EQ(chosen, 3u);
      // No receiver is left on c, no sender on out.
      ASSERT_FALSE(c.try_send(1));
      ASSERT_EQ(out.try_recv().status, goro::recv_status::not_ready);
      // And the channels still work normally.
      goro::go([&] { c.send(7); });
      ASSERT_EQ(c.recv(), 7);
    }
  });
}

TEST_P(ChanSel, SendAndReceiveOnOneChannelInOneSelect) {
  goro::run(opts(), [] {
    for (int i = 0; i < static_cast<int>(scaled(500)); i++) {
      goro::chan<int> c;
      // A receiver elsewhere: only the send case can complete.
      goro::wait_group wg;
      wg.add(1);
      goro::go([&] {
        EXPECT_EQ(c.recv(), 1);
        wg.done();
      });
      EXPECT_EQ(goro::select(goro::on_recv(c), goro::on_send(c, 1)), 1u);
      wg.wait();
      // A sender elsewhere: only the receive case can complete.
      wg.add(1);
      goro::go([&] {
        c.send(2);
        wg.done();
      });
      std::optional<int> got;
      EXPECT_EQ(goro::select(goro::on_send(c, 9), goro::on_recv(c, [&](std::optional<int> v) { got = v; })), 1u);
      EXPECT_EQ(got, 2);
      wg.wait();
    }
  });
}

TEST_P(ChanSel, ClosedChannelsInSelect) {
  goro::run(opts(), [] {
    goro::chan<int> c(1);
    c.close();
    bool closed = false;
    goro::select(goro::on_recv(c, [&](std::optional<int> v) { closed = !v; }));
    EXPECT_TRUE(closed);
    EXPECT_THROW(goro::select(goro::on_send(c, 1)), goro::closed_channel_error);
    // Closing while a select waits to send wakes it with the error.
    goro::chan<int> d;
    goro::wait_group wg;
    wg.add(1);
    bool threw = false;
    goro::go([&] {
      try {
        goro::select(goro::on_send(d, 1), goro::on_recv(goro::chan<int>(nullptr)));
      } catch (const goro::closed_channel_error&) {
        threw = true;
      }
      wg.done();
    });
    for (int i = 0; i < 20; i++) goro::this_fiber::yield();
    d.close();
    wg.wait();
    EXPECT_TRUE(threw);
  });
}

TEST_P(ChanSel, NilChannels) {
  goro::run(opts(), [] {
    goro::chan<int> nil(nullptr);
    EXPECT_FALSE(nil);
    EXPECT_FALSE(nil.try_send(1));
    EXPECT_EQ(nil.try_recv().status, goro::recv_status::not_ready);
    EXPECT_THROW(nil.close(), goro::closed_channel_error);
    EXPECT_EQ(goro::select(goro::on_recv(nil), goro::on_send(nil, 1), goro::on_default([] {})), 2u);
    goro::chan<int> a(1);
    a.send(3);
    EXPECT_EQ(goro::select(goro::on_recv(nil), goro::on_recv(a)), 1u);
    goro::chan<int> moved = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is nil by contract
    EXPECT_TRUE(moved);
  });
}

TEST_P(ChanSel, HandlesShareOneChannel) {
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

// Mixed send/recv/select over channels of capacity 0-3 with many fibers:
// nothing lost, nothing duplicated, no deadlock. Consumers drop closed
// channels from their select by replacing them with nil ones.
TEST_P(ChanSel, MixedStress) {
  goro::run(opts(), [] {
    constexpr int nchan = 4, producers = 8, consumers = 8;
    const int per = static_cast<int>(scaled(4000));
    std::vector<goro::chan<int>> ch;
    for (int i = 0; i < nchan; i++) ch.emplace_back(i);  // capacities 0, 1, 2, 3
    std::atomic<std::int64_t> sum{0};
    std::atomic<int> count{0};
    goro::wait_group pw, cw;
    pw.add(producers);
    cw.add(consumers);
    for (int p = 0; p < producers; p++)
      goro::go([&, p] {
        for (int i = 0; i < per; i++) {
          const int v = p * per + i;
          if (i % 3 == 0) {
            ch[static_cast<std::size_t>(v) % nchan].send(v);
          } else {
            goro::select(goro::on_send(ch[static_cast<std::size_t>(v) % nchan], v),
                         goro::on_send(ch[static_cast<std::size_t>(v + 1) % nchan], v));
          }
        }
        pw.done();
      });
    for (int k = 0; k < consumers; k++)
      goro::go([&, k] {
        std::vector<goro::chan<int>> mine = ch;
        int open = nchan;
        auto take = [&](std::size_t j) {
          return [&, j](std::optional<int> v) {
            if (!v) {
              mine[j] = nullptr;
              open--;
              return;
            }
            sum += *v;
            count++;
          };
        };
        while (open > 0) {
          if (k % 2 == 0) {
            goro::select(goro::on_recv(mine[0], take(0)), goro::on_recv(mine[1], take(1)),
                         goro::on_recv(mine[2], take(2)), goro::on_recv(mine[3], take(3)));
          } else {
            // Plain receives on one channel at a time, then select.
            for (std::size_t j = 0; j < nchan; j++)
              if (mine[j]) {
                auto r = mine[j].try_recv();
                if (r.status == goro::recv_status::ok) take(j)(std::move(r.value));
              }
            goro::select(goro::on_recv(mine[3], take(3)), goro::on_recv(mine[2], take(2)),
                         goro::on_recv(mine[1], take(1)), goro::on_recv(mine[0], take(0)));
          }
        }
        cw.done();
      });
    pw.wait();
    for (auto& c : ch) c.close();
    cw.wait();
    const std::int64_t n = std::int64_t(producers) * per;
    EXPECT_EQ(count.load(), n);
    EXPECT_EQ(sum.load(), n * (n - 1) / 2);
  });
}

// A prime sieve over chained unbuffered channels.
TEST_P(ChanSel, PrimeSievePipeline) {
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

INSTANTIATE_TEST_SUITE_P(Procs, ChanSel, ::testing::Values(1, 2, 4), goro_test::procs_name);

// ---- threads outside the runtime --------------------------------------------------

TEST(ChanThreads, ThreadsAndFibersExchangeValues) {
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
TEST(ChanThreads, ChannelOperationsInsideBlocking) {
  goro::run({.procs = 1}, [] {
    goro::chan<int> c;
    goro::go([&] { c.send(5); });
    const int v = goro::blocking([&] { return *c.recv(); });
    EXPECT_EQ(v, 5);
  });
}

}  // namespace
