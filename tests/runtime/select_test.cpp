// select: a default is never taken while a case is ready, ready cases are
// chosen uniformly, losing cases are dequeued, a send and a receive on one
// channel in one select, closed and nil channels in select, and a mixed
// send/receive/select stress. Plain channel operations are in chan_test.cpp.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using goro_test::scaled;

using Select = goro_test::RuntimeTest;

TEST_P(Select, DefaultIsNeverTakenWhileACaseIsReady) {
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

TEST_P(Select, ReadyCasesAreChosenUniformly) {
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
TEST_P(Select, LosingCasesAreDequeued) {
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

TEST_P(Select, SendAndReceiveOnOneChannelInOneSelect) {
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

TEST_P(Select, ClosedChannelsInSelect) {
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

// Nil channels' cases never fire: with a default, the default is taken;
// beside a ready case, that case is. (Nil channels alone: chan_test.cpp.)
TEST_P(Select, NilChannelCasesAreNeverReady) {
  goro::run(opts(), [] {
    goro::chan<int> nil(nullptr);
    EXPECT_EQ(goro::select(goro::on_recv(nil), goro::on_send(nil, 1), goro::on_default([] {})), 2u);
    goro::chan<int> a(1);
    a.send(3);
    EXPECT_EQ(goro::select(goro::on_recv(nil), goro::on_recv(a)), 1u);
  });
}

// Mixed send/recv/select over channels of capacity 0-3 with many fibers:
// nothing lost, nothing duplicated, no deadlock. Consumers drop closed
// channels from their select by replacing them with nil ones.
TEST_P(Select, MixedStress) {
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

GORO_INSTANTIATE_PROCS(Select);

}  // namespace
