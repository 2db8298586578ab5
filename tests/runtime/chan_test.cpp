// Channels: FIFO, direct hand-off, close semantics, misuse errors, and
// many producers and consumers over buffered and unbuffered channels.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace {

class Chan : public ::testing::TestWithParam<int> {
 protected:
  goro::options opts() const { return {.procs = GetParam()}; }
};

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

TEST_P(Chan, ManyProducersAndConsumersBuffered) { mpmc(GetParam(), 64); }
TEST_P(Chan, ManyProducersAndConsumersUnbuffered) { mpmc(GetParam(), 0); }

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

INSTANTIATE_TEST_SUITE_P(Procs, Chan, ::testing::Values(1, 2, 4),
                         goro_test::procs_name);

}  // namespace
