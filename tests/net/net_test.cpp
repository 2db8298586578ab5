// goro::net and goro::io on the poller: echo at scale, EOF, resets,
// half-close, deadlines, contexts, close while waiting, descriptor reuse,
// descriptor leaks, and the network under CPU hogs.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;
using goro::io::errc;
using goro_test::open_fds;
using goro_test::scaled;

using Net = goro_test::RuntimeTest;
GORO_INSTANTIATE_PROCS(Net);
using NetFixed = goro_test::FixedRuntimeTest;

// Room for `want` descriptors (both ends of every connection live in this
// process). Returns how many connections the limit allows, at most want/2.
int raise_fd_limit(int want) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < static_cast<rlim_t>(want)) {
    rl.rlim_cur = rl.rlim_max < static_cast<rlim_t>(want) ? rl.rlim_max : static_cast<rlim_t>(want);
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  const int usable = static_cast<int>(rl.rlim_cur) - 64;
  return std::min(want, usable) / 2;
}

// A server fiber echoing every connection until the listener closes.
void echo_server(goro::net::listener ln, goro::wait_group& wg) {
  wg.add(1);
  goro::go([ln, &wg]() mutable {
    for (;;) {
      std::error_code ec;
      goro::net::conn c = ln.accept(ec);
      if (ec) break;
      wg.add(1);
      goro::go([c, &wg]() mutable {
        char buf[4096];
        std::error_code e;
        while (std::size_t n = c.read(buf, sizeof buf, e)) {
          c.write(buf, n, e);
          if (e) break;
        }
        c.close(e);
        wg.done();
      });
    }
    wg.done();
  });
}

TEST_P(Net, EchoRoundTripsOverManyConnections) {
  const int conns = raise_fd_limit(2 * static_cast<int>(goro_test::live_fibers(1200, 4)) + 64);
  const int rounds = 5;
  const int before = open_fds();
  std::atomic<int> ok{0};
  goro::run(opts(), [&] {
    auto ln = goro::net::listen("tcp", "127.0.0.1:0");
    const std::string addr = ln.address().to_string();
    goro::wait_group server;
    echo_server(ln, server);
    goro::wait_group clients;
    clients.add(conns);
    for (int i = 0; i < conns; i++) {
      goro::go([&, i] {
        auto c = goro::net::dial("tcp", addr);
        for (int r = 0; r < rounds; r++) {
          std::array<char, 64> out{}, in{};
          std::snprintf(out.data(), out.size(), "conn %d round %d", i, r);
          c.write(out.data(), out.size());
          c.read_full(in.data(), in.size());
          if (out == in) ok.fetch_add(1, std::memory_order_relaxed);
        }
        c.close();
        clients.done();
      });
    }
    clients.wait();
    ln.close();
    server.wait();
  });
  EXPECT_EQ(ok.load(), conns * rounds);
  EXPECT_EQ(open_fds(), before);
}

TEST_P(Net, PeerCloseGivesEofAndResetIsAnError) {
  goro::run(opts(), [] {
    auto ln = goro::net::listen("tcp", "127.0.0.1:0");
    goro::chan<int> step;
    goro::go([&] {
      auto c = ln.accept();
      c.write("hi", 2);
      step.recv();  // the client is blocked in read by now or soon
      c.close();    // orderly: the client reads end of stream
      auto d = ln.accept();
      linger lg{1, 0};  // close with RST
      setsockopt(d.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      step.recv();
      d.close();
    });
    auto c = goro::net::dial("tcp", ln.address().to_string());
    char buf[8];
    EXPECT_EQ(c.read_full(buf, 2), 2u);
    step.send(1);
    std::error_code ec;
    EXPECT_EQ(c.read(buf, sizeof buf, ec), 0u);
    EXPECT_EQ(ec, errc::eof);
    EXPECT_EQ(c.read(buf, sizeof buf), 0u);  // the throwing form returns 0
    auto d = goro::net::dial("tcp", ln.address().to_string());
    step.send(2);
    EXPECT_EQ(d.read(buf, sizeof buf, ec), 0u);
    EXPECT_EQ(ec, std::errc::connection_reset);
    // The kernel reports a reset once; after it, end of stream.
    EXPECT_EQ(d.read(buf, sizeof buf, ec), 0u);
    EXPECT_EQ(ec, errc::eof);
  });
}

TEST_P(Net, HalfCloseLetsThePeerAnswer) {
  goro::run(opts(), [] {
    auto ln = goro::net::listen("tcp", "127.0.0.1:0");
    goro::go([&] {
      auto c = ln.accept();
      std::string got;
      char buf[16];
      while (std::size_t n = c.read(buf, sizeof buf)) got.append(buf, n);
      const std::string reply = "got " + std::to_string(got.size());
      c.write(reply.data(), reply.size());
      c.close();
    });
    auto c = goro::net::dial("tcp", ln.address().to_string());
    const std::string msg(1000, 'x');
    c.write(msg.data(), msg.size());
    c.shutdown_write();
    std::string reply;
    char buf[16];
    while (std::size_t n = c.read(buf, sizeof buf)) reply.append(buf, n);
    EXPECT_EQ(reply, "got 1000");
    EXPECT_THROW(c.write("x", 1), goro::io::io_error);  // EPIPE after shutdown
  });
}

// A connected pair over loopback TCP.
std::pair<goro::net::conn, goro::net::conn> tcp_pair() {
  auto ln = goro::net::listen("tcp", "127.0.0.1:0");
  goro::chan<goro::net::conn> ch(1);
  goro::go([&] { ch.send(ln.accept()); });
  auto a = goro::net::dial("tcp", ln.address().to_string());
  auto b = *ch.recv();
  ln.close();
  return {a, b};
}

TEST_P(Net, DeadlinesFromOneNanosecondToMilliseconds) {
  goro::run(opts(), [] {
    auto [a, b] = tcp_pair();
    char buf[8];
    std::error_code ec;
    for (std::chrono::nanoseconds d : {1ns, std::chrono::nanoseconds(1us), std::chrono::nanoseconds(100us), std::chrono::nanoseconds(5ms)}) {
      const auto t0 = clk::now();
      a.set_read_deadline(t0 + d);
      EXPECT_EQ(a.read(buf, sizeof buf, ec), 0u);
      EXPECT_EQ(ec, errc::timeout) << d.count();
      EXPECT_GE(clk::now() - t0, d);
    }
    // A deadline in the past fails at once, even with data ready.
    b.write("abc", 3);
    a.set_read_deadline(clk::now() - 1s);
    EXPECT_EQ(a.read(buf, sizeof buf, ec), 0u);
    EXPECT_EQ(ec, errc::timeout);
    EXPECT_THROW(a.read(buf, sizeof buf), goro::io::io_error);
    // Cleared: the data is there.
    a.set_read_deadline(goro::io::no_deadline);
    EXPECT_EQ(a.read(buf, sizeof buf), 3u);
    a.close();
    b.close();
  });
}

TEST_P(Net, ExtendingADeadlineWhileBlockedTakesEffect) {
  goro::run(opts(), [] {
    auto [a, b] = tcp_pair();
    a.set_read_deadline(clk::now() + 20ms);
    goro::chan<int> started(1);
    goro::chan<std::error_code> res(1);
    goro::go([&, a = a]() mutable {
      char buf[8];
      std::error_code ec;
      started.send(1);
      a.read(buf, sizeof buf, ec);
      res.send(ec);
    });
    started.recv();
    a.set_read_deadline(clk::now() + 10s);  // extended while the reader waits
    goro::this_fiber::sleep_for(60ms);                  // well past the first deadline
    b.write("z", 1);
    EXPECT_EQ(*res.recv(), std::error_code());
    // And shortening wakes it early.
    goro::go([&, a = a]() mutable {
      char buf[8];
      std::error_code ec;
      a.read(buf, sizeof buf, ec);
      res.send(ec);
    });
    goro::this_fiber::sleep_for(5ms);
    a.set_read_deadline(clk::now() - 1ms);
    EXPECT_EQ(*res.recv(), errc::timeout);
    a.close();
    b.close();
  });
}

TEST_P(Net, DeadlinesResetRapidlyFromAnotherFiber) {
  goro::run(opts(), [] {
    auto [a, b] = tcp_pair();
    std::atomic<bool> stop{false};
    goro::wait_group wg;
    wg.add(1);
    goro::go([&, a = a]() mutable {
      while (!stop.load(std::memory_order_relaxed)) {
        a.set_read_deadline(clk::now() + 50us);
        a.set_read_deadline(clk::now() + 10s);
        goro::this_fiber::yield();
      }
      wg.done();
    });
    int got = 0, timeouts = 0;
    char buf[1];
    const int n = static_cast<int>(scaled(200));
    goro::go([&, b = b]() mutable {
      for (int i = 0; i < n; i++) {
        b.write("q", 1);
        goro::this_fiber::sleep_for(100us);
      }
    });
    while (got < n) {
      std::error_code ec;
      if (a.read(buf, 1, ec) == 1) got++;
      else if (ec == errc::timeout) timeouts++;
      else ADD_FAILURE() << ec.message();
    }
    stop.store(true);
    wg.wait();
    EXPECT_EQ(got, n);  // every byte arrives; a timeout only retries
    a.close();
    b.close();
  });
}

TEST_P(Net, ContextCancelsReadWriteAcceptAndDial) {
  goro::run(opts(), [] {
    auto [a, b] = tcp_pair();
    auto ln = goro::net::listen("tcp", "127.0.0.1:0");
    // Read, accept: nothing comes.
    for (int which = 0; which < 3; which++) {
      auto [ctx, cancel] = goro::with_cancel(goro::background());
      goro::chan<std::error_code> res(1);
      goro::go([&, ctx = ctx, a = a]() mutable {
        std::error_code ec;
        char buf[8];
        if (which == 0) {
          a.read(buf, sizeof buf, ctx, ec);
        } else if (which == 1) {
          ln.accept(ctx, ec);
        } else {
          // Write until the socket buffers are full, then wait.
          std::vector<char> big(1 << 20, 'w');
          for (int k = 0; k < 64 && !ec; k++) a.write(big.data(), big.size(), ctx, ec);
        }
        res.send(ec);
      });
      goro::this_fiber::sleep_for(10ms);
      cancel();
      EXPECT_EQ(*res.recv(), errc::canceled) << which;
    }
    // A context deadline reports deadline_exceeded.
    {
      auto [ctx, cancel] = goro::with_timeout(goro::background(), 5ms);
      std::error_code ec;
      char buf[8];
      a.read(buf, sizeof buf, ctx, ec);
      EXPECT_EQ(ec, errc::deadline_exceeded);
      cancel();
    }
    // Dial: a listener whose backlog is full and never accepts.
    {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in in{};
      in.sin_family = AF_INET;
      in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof in), 0);
      ASSERT_EQ(::listen(fd, 0), 0);
      socklen_t len = sizeof in;
      getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len);
      const std::string addr = "127.0.0.1:" + std::to_string(ntohs(in.sin_port));
      std::vector<goro::net::conn> filler;
      std::error_code ec;
      goro::context_error seen = goro::context_error::none;
      for (int k = 0; k < 16 && seen == goro::context_error::none; k++) {
        auto [ctx, cancel] = goro::with_timeout(goro::background(), 50ms);
        goro::net::conn c = goro::net::dial("tcp", addr, ctx, ec);
        if (!ec) {
          filler.push_back(c);
        } else {
          EXPECT_EQ(ec, errc::deadline_exceeded);
          seen = ctx.err();
        }
        cancel();
      }
      EXPECT_EQ(seen, goro::context_error::deadline_exceeded);
      for (auto& c : filler) c.close();
      ::close(fd);
    }
    ln.close();
    a.close();
    b.close();
  });
}

TEST_P(Net, ClosingWakesWaitersWithClosed) {
  goro::run(opts(), [] {
    auto [a, b] = tcp_pair();
    auto ln = goro::net::listen("tcp", "127.0.0.1:0");
    goro::chan<std::error_code> res(4);
    goro::go([&, a = a]() mutable {
      std::error_code ec;
      char buf[8];
      a.read(buf, sizeof buf, ec);
      res.send(ec);
    });
    goro::go([&, ln = ln]() mutable {
      std::error_code ec;
      ln.accept(ec);
      res.send(ec);
    });
    goro::this_fiber::sleep_for(10ms);
    a.close();
    ln.close();
    EXPECT_EQ(*res.recv(), errc::closed);
    EXPECT_EQ(*res.recv(), errc::closed);
    std::error_code ec;
    char buf[1];
    a.read(buf, 1, ec);
    EXPECT_EQ(ec, errc::closed);
    a.close(ec);
    EXPECT_EQ(ec, errc::closed);  // twice
    EXPECT_THROW(a.write("x", 1), goro::io::io_error);
    b.close();
  });
}

// A descriptor closed while its peer keeps writing, its number reused at
// once by a new connection: no event for the old one reaches the new one.
TEST_P(Net, ReusedDescriptorNumberGetsNoStaleEvents) {
  goro::run(opts(), [] {
    auto ln = goro::net::listen("tcp", "127.0.0.1:0");
    const std::string addr = ln.address().to_string();
    const int n = static_cast<int>(scaled(300));
    int reused = 0;
    for (int i = 0; i < n; i++) {
      auto [a, b] = tcp_pair();
      const int old_fd = a.native_handle();
      goro::go([b = b]() mutable {
        std::error_code ec;
        for (int k = 0; k < 4 && !ec; k++) b.write("data", 4, ec);
      });
      goro::this_fiber::yield();
      a.close();
      // The peer's data for the old descriptor may be in flight; the new
      // connection (likely the same number) must see none of it.
      goro::chan<goro::net::conn> ch(1);
      goro::go([&] { ch.send(ln.accept()); });
      auto c = goro::net::dial("tcp", addr);
      auto d = *ch.recv();
      if (c.native_handle() == old_fd || d.native_handle() == old_fd) reused++;
      c.set_read_deadline(clk::now() + 200us);
      char buf[8];
      std::error_code ec;
      EXPECT_EQ(c.read(buf, sizeof buf, ec), 0u);
      EXPECT_EQ(ec, errc::timeout);
      c.close();
      d.close();
      b.close();
    }
    EXPECT_GT(reused, 0);  // the scenario happened
    ln.close();
  });
}

TEST_P(Net, NoDescriptorLeaksAfterManyConnections) {
  const int before = open_fds();
  goro::run(opts(), [] {
    auto ln = goro::net::listen("tcp", "127.0.0.1:0");
    goro::wait_group server;
    echo_server(ln, server);
    const std::string addr = ln.address().to_string();
    const int total = static_cast<int>(scaled(10000, 20));
    goro::wait_group wg;
    const int par = 50;
    wg.add(par);
    for (int f = 0; f < par; f++) {
      goro::go([&] {
        for (int i = 0; i < total / par; i++) {
          auto c = goro::net::dial("tcp", addr);
          char b = 'x';
          c.write(&b, 1);
          c.read_full(&b, 1);
          c.close();
        }
        wg.done();
      });
    }
    wg.wait();
    ln.close();
    server.wait();
  });
  EXPECT_EQ(open_fds(), before);
}

// At procs 1 every other fiber computes without yielding: the network
// still makes progress (sysmon's preemption and its poll).
TEST_F(NetFixed, NetworkProgressesWhileFibersHogTheCpu) {
  goro::run({.procs = 1}, [] {
    auto [a, b] = tcp_pair();
    std::atomic<bool> stop{false};
    goro::wait_group hogs;
    hogs.add(3);
    for (int i = 0; i < 3; i++) {
      goro::go([&] {
        volatile std::uint64_t x = 0;
        while (!stop.load(std::memory_order_relaxed)) x = x + 1;
        hogs.done();
      });
    }
    goro::go([b = b]() mutable {
      char buf[4];
      for (int i = 0; i < 20; i++) {
        b.read_full(buf, 4);
        b.write(buf, 4);
      }
    });
    char buf[4] = {'p', 'i', 'n', 'g'};
    // Without the network polled under the hogs, this read fails with
    // errc::timeout (an io_error: the test fails) instead of hanging.
    a.set_read_deadline(clk::now() + 10s);
    for (int i = 0; i < 20; i++) {
      a.write(buf, 4);
      a.read_full(buf, 4);
    }
    stop.store(true);
    hogs.wait();
    a.close();
    b.close();
  });
}

TEST_P(Net, UnixAndIpv6Sockets) {
  goro::run(opts(), [] {
    const std::string path = "@goro-net-test-" + std::to_string(getpid());
    std::vector<std::pair<std::string, std::string>> nets = {{"unix", path}};
    std::error_code ec;
    auto probe = goro::net::listen("tcp6", "[::1]:0", ec);
    if (!ec) {
      nets.push_back({"tcp6", "[::1]:0"});
      probe.close();
    }
    for (auto& [net, where] : nets) {
      auto ln = goro::net::listen(net, where);
      goro::wait_group server;
      echo_server(ln, server);
      auto c = goro::net::dial(net, ln.address().to_string());
      c.write("unix?", 5);
      char buf[5];
      c.read_full(buf, 5);
      EXPECT_EQ(std::string(buf, 5), "unix?") << net;
      c.close();
      ln.close();
      server.wait();
    }
  });
}

TEST_P(Net, FileOverAPipeAndWaitingOnAForeignDescriptor) {
  goro::run(opts(), [] {
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    goro::io::file r(fds[0]), w(fds[1]);
    goro::go([w]() mutable {
      for (int i = 0; i < 100; i++) w.write("0123456789", 10);
      w.close();
    });
    std::string got;
    char buf[64];
    while (std::size_t n = r.read(buf, sizeof buf)) got.append(buf, n);
    EXPECT_EQ(got.size(), 1000u);
    r.close();

    // Third-party descriptor: a non-blocking pipe goro does not own.
    ASSERT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    try {
      goro::io::wait_readable(fds[0], clk::now() + 2ms);
      ADD_FAILURE() << "wait_readable returned without data";
    } catch (const goro::io::io_error& e) {
      EXPECT_EQ(e.code(), errc::timeout);
    }
    goro::go([fd = fds[1]] {
      goro::this_fiber::sleep_for(5ms);
      EXPECT_EQ(::write(fd, "!", 1), 1);
    });
    goro::io::wait_readable(fds[0]);
    char c = 0;
    EXPECT_EQ(::read(fds[0], &c, 1), 1);
    EXPECT_EQ(c, '!');
    goro::io::wait_writable(fds[1]);  // an empty pipe is writable at once
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    goro::go([cancel = cancel] {
      goro::this_fiber::sleep_for(5ms);
      cancel();
    });
    try {
      goro::io::wait_readable(fds[0], ctx);
      ADD_FAILURE() << "wait_readable returned without data";
    } catch (const goro::io::io_error& e) {
      EXPECT_EQ(e.code(), errc::canceled);
    }
    ::close(fds[0]);
    ::close(fds[1]);
  });
}

// Fibers blocked in read and accept when main returns are unwound
// (goro::fiber_cancelled), so run() returns and their descriptors close.
TEST_P(Net, FibersLeftWaitingOnTheNetworkAreUnwound) {
  const int before = open_fds();
  std::atomic<int> unwound{0};
  goro::run(opts(), [&] {
    auto [a, b] = tcp_pair();
    auto ln = goro::net::listen("tcp", "127.0.0.1:0");
    struct count_exit {
      std::atomic<int>& n;
      ~count_exit() { n.fetch_add(1); }
    };
    for (int i = 0; i < 3; i++) {
      goro::go([a = a, &unwound]() mutable {
        count_exit g{unwound};
        char buf[1];
        a.read(buf, 1);  // nothing ever comes (the others queue behind it)
        ADD_FAILURE() << "read returned";
      });
    }
    goro::go([ln = ln, b = b, &unwound]() mutable {  // b's only other handle goes with main
      count_exit g{unwound};
      ln.accept();
      ADD_FAILURE() << "accept returned";
    });
    goro::this_fiber::sleep_for(20ms);
  });
  EXPECT_EQ(unwound.load(), 4);
  EXPECT_EQ(open_fds(), before);
}

// A fiber waiting on the network is not a deadlock: the network may wake it
// (here, a thread outside the runtime writes after a while).
TEST_P(Net, WaitingOnTheNetworkIsNotADeadlock) {
  goro::run(opts(), [] {
    auto [a, b] = tcp_pair();
    std::thread writer([fd = b.native_handle()] {
      // Longer than the deadlock grace for unknown threads (250 ms): this
      // thread is one, and the wait must not pass on that grace alone.
      std::this_thread::sleep_for(400ms);
      EXPECT_EQ(::write(fd, "late", 4), 4);
    });
    char buf[4];
    a.read_full(buf, 4);  // every fiber blocked meanwhile
    EXPECT_EQ(std::string(buf, 4), "late");
    writer.join();
    a.close();
    b.close();
  });
}

// A thread outside the runtime blocks in a read on a runtime's connection
// while every fiber sleeps: an idle M must come to poll for it.
TEST_P(Net, AThreadOutsideTheRuntimeReadsAConnection) {
  goro::run(opts(), [] {
    auto [a, b] = tcp_pair();
    for (int round = 0; round < 20; round++) {
      std::string got;
      std::thread reader([&, a = a]() mutable {
        char buf[8];
        std::error_code ec;
        const std::size_t n = a.read_full(buf, 5, ec);
        got.assign(buf, n);
      });
      goro::this_fiber::sleep_for(2ms);  // the reader blocks meanwhile (or not yet: either way)
      b.write("hello", 5);
      goro::blocking([&] { reader.join(); });
      EXPECT_EQ(got, "hello") << round;
    }
    a.close();
    b.close();
  });
}

// Threads outside the runtime close connections just as the runtime ends:
// the close must not use the runtime (its list of records, its epoll
// instance) once it is gone. Many rounds, so that the close and the end
// overlap in some.
TEST_P(Net, ClosingFromAThreadAsTheRuntimeEndsIsSafe) {
  const int rounds = static_cast<int>(goro_test::scaled(100, 10));
  constexpr int pairs = 16;
  const int before = open_fds();
  for (int round = 0; round < rounds; round++) {
    std::atomic<bool> go{false};
    std::vector<goro::net::conn> held;
    std::vector<std::thread> closers;
    goro::run(opts(), [&] {
      for (int i = 0; i < pairs; i++) {
        auto [a, b] = tcp_pair();
        held.push_back(a);
        held.push_back(b);
      }
      // Two threads each close half of the descriptors, one by one, spread
      // over the 2 ms after main returns (the runtime ends within that).
      for (int t = 0; t < 2; t++)
        closers.emplace_back([&go, round, t, mine = std::vector<goro::net::conn>(held.begin() + pairs * t,
                                                                                 held.begin() + pairs * (t + 1))]() mutable {
          while (!go.load(std::memory_order_acquire)) {
          }
          const auto start = std::chrono::steady_clock::now();
          std::uint64_t x = 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(round * 2 + t + 1);
          for (auto& c : mine) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            const auto at = start + std::chrono::microseconds(x % 2000);
            while (std::chrono::steady_clock::now() < at) {
            }
            goro::net::conn last = std::move(c);  // the last handle: the descriptor closes here
          }
        });
      held.clear();
      go.store(true, std::memory_order_release);  // and main returns at once
    });
    for (auto& t : closers) t.join();
  }
  // Every connection's descriptor, and every runtime's epoll and eventfd
  // descriptors, closed: nothing was skipped or closed twice.
  EXPECT_EQ(open_fds(), before);
}

// A Unix listener whose backlog is full: connect says EAGAIN, and nothing
// was started. dial reports it, never a connection that is not one.
TEST_P(Net, UnixDialToAFullBacklogFailsInsteadOfFakingAConnection) {
  goro::run(opts(), [] {
    const int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    const std::string name = "goro-backlog-" + std::to_string(getpid());
    std::memcpy(un.sun_path + 1, name.data(), name.size());  // abstract
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&un), len), 0);
    ASSERT_EQ(::listen(lfd, 0), 0);
    std::vector<goro::net::conn> ok;
    int refused = 0;
    for (int i = 0; i < 8; i++) {
      std::error_code ec;
      goro::net::conn c = goro::net::dial("unix", "@" + name, ec);
      if (ec) {
        EXPECT_EQ(ec, std::errc::resource_unavailable_try_again) << ec.message();
        refused++;
      } else {
        EXPECT_EQ(c.remote_address().to_string(), "@" + name);  // really connected
        ok.push_back(c);
      }
    }
    EXPECT_GT(refused, 0);
    for (auto& c : ok) c.close();
    ::close(lfd);
  });
}

// The runtime's first descriptor opened inside goro::blocking, while the
// other Ms sleep on their notes: one of them must start polling for it.
TEST_P(Net, FirstDescriptorOpenedInsideBlockingIsPolled) {
  goro::run(opts(), [] {
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    std::thread writer([fd = fds[1]] {
      std::this_thread::sleep_for(100ms);
      EXPECT_EQ(::write(fd, "x", 1), 1);
    });
    std::error_code ec;
    char c = 0;
    goro::blocking([&] {
      goro::io::file r(fds[0]);
      r.set_read_deadline(clk::now() + 5s);
      r.read(&c, 1, ec);
      r.close();
    });
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(c, 'x');
    writer.join();
    ::close(fds[1]);
  });
}

TEST(NetMisuse, OutsideARuntimeIsAnError) {
  EXPECT_THROW(goro::net::listen("tcp", "127.0.0.1:0"), std::logic_error);
  EXPECT_THROW(goro::net::dial("tcp", "127.0.0.1:1"), std::logic_error);
  goro::run({.procs = 1}, [] {
    EXPECT_THROW(goro::net::listen("udp", "127.0.0.1:0"), std::invalid_argument);
    EXPECT_THROW(goro::net::listen("tcp", "127.0.0.1"), std::invalid_argument);
    EXPECT_THROW(goro::net::listen("tcp", "::1:80"), std::invalid_argument);
    std::error_code ec;
    goro::net::dial("tcp", "127.0.0.1:1", ec);  // nobody listens on port 1
    EXPECT_EQ(ec, std::errc::connection_refused);
  });
}

}  // namespace
