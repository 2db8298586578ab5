// examples/net/http_hello's server code (http_server.hpp) against good
// clients, pipelining, and hostile ones: malformed requests, huge headers,
// slowloris, clients that never read, and random bytes.
#include <gtest/gtest.h>

#include <goro/goro.hpp>


#include <atomic>
#include <chrono>
#include <random>
#include <string>

#include "net/http_server.hpp"
#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;
using goro_test::open_fds;
using goro_test::scaled;

using Http = goro_test::RuntimeTest;
GORO_INSTANTIATE_PROCS(Http);

constexpr std::string_view ok_response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

// Everything the server sends until it closes (or `deadline` passes).
std::string read_all(goro::net::conn& c, clk::time_point deadline) {
  std::string got;
  char buf[4096];
  std::error_code ec;
  c.set_read_deadline(deadline);
  while (std::size_t n = c.read(buf, sizeof buf, ec)) got.append(buf, n);
  return got;
}

// Runs `body(address)` with the server listening; stops it afterwards.
template <class F>
void with_server(const hello_http::limits& lim, F body) {
  auto ln = goro::net::listen("tcp", "127.0.0.1:0");
  goro::wait_group wg;
  wg.add(1);
  goro::go([ln, lim, &wg] {
    hello_http::serve(ln, lim);
    wg.done();
  });
  body(ln.address().to_string());
  ln.close();
  wg.wait();
}

TEST_P(Http, KeepAliveAndPipelining) {
  goro::run(opts(), [] {
    with_server({}, [](const std::string& addr) {
      auto c = goro::net::dial("tcp", addr);
      const std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
      for (int i = 0; i < 3; i++) {  // one at a time on one connection
        c.write(req.data(), req.size());
        std::string got(ok_response.size(), '\0');
        c.read_full(got.data(), got.size());
        EXPECT_EQ(got, ok_response);
      }
      std::string many;
      for (int i = 0; i < 50; i++) many += req;  // pipelined in one write
      c.write(many.data(), many.size());
      std::string got(50 * ok_response.size(), '\0');
      c.read_full(got.data(), got.size());
      std::string want;
      for (int i = 0; i < 50; i++) want += ok_response;
      EXPECT_EQ(got, want);
      // Connection: close is honoured.
      const std::string last = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
      c.write(last.data(), last.size());
      const std::string tail = read_all(c, clk::now() + 5s);
      EXPECT_NE(tail.find("200 OK"), std::string::npos);
      EXPECT_NE(tail.find("Connection: close"), std::string::npos);
      c.close();
    });
  });
}

TEST_P(Http, BadRequestsGetTheirStatusAndAClose) {
  goro::run(opts(), [] {
    with_server({}, [](const std::string& addr) {
      const std::pair<std::string, std::string> cases[] = {
          {"GARBAGE\r\n\r\n", "400"},
          {"GET /\r\n\r\n", "400"},
          {"GET / HTTP/9.9\r\n\r\n", "400"},
          {"G(T / HTTP/1.1\r\n\r\n", "400"},
          {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", "400"},
          {"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", "400"},
          {"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", "413"},
          {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "501"},
          {"GET / HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n", "431"},
          {"GET / HTTP/1.1\r\nX: " + std::string(20000, 'a'), "431"},  // no end in sight
      };
      for (const auto& [req, status] : cases) {
        auto c = goro::net::dial("tcp", addr);
        std::error_code ec;
        c.write(req.data(), req.size(), ec);  // the server may close before taking it all
        const std::string got = read_all(c, clk::now() + 5s);
        EXPECT_EQ(got.substr(0, 12), "HTTP/1.1 " + status) << req.substr(0, 40);
        EXPECT_NE(got.find("Connection: close"), std::string::npos);
        c.close();
      }
      // A body is read and skipped; the connection stays usable.
      auto c = goro::net::dial("tcp", addr);
      const std::string req = "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcdeGET / HTTP/1.1\r\n\r\n";
      c.write(req.data(), req.size());
      std::string got(2 * ok_response.size(), '\0');
      c.read_full(got.data(), got.size());
      EXPECT_EQ(got, std::string(ok_response) + std::string(ok_response));
      c.close();
    });
  });
}

TEST_P(Http, SlowClientsAreClosedAndOthersStillServed) {
  goro::run(opts(), [] {
    hello_http::limits lim;
    lim.read_timeout = 100ms;
    lim.write_timeout = 100ms;
    with_server(lim, [](const std::string& addr) {
      // Slowloris: a byte now and then, never a whole request.
      auto slow = goro::net::dial("tcp", addr);
      // Never reads: pipelines requests until the server's writes block.
      auto deaf = goro::net::dial("tcp", addr);
      goro::wait_group wg;
      wg.add(2);
      std::atomic<bool> slow_closed{false}, deaf_closed{false};
      goro::go([&] {
        std::error_code ec;
        for (int i = 0; i < 100 && !ec; i++) {
          slow.write("G", 1, ec);
          goro::this_fiber::sleep_for(20ms);
        }
        slow_closed = static_cast<bool>(ec);  // the server closed it
        wg.done();
      });
      goro::go([&] {
        std::string many;
        for (int i = 0; i < 1000; i++) many += "GET / HTTP/1.1\r\n\r\n";
        std::error_code ec;
        const auto t0 = clk::now();
        while (!ec && clk::now() - t0 < 10s) deaf.write(many.data(), many.size(), ec);
        deaf_closed = static_cast<bool>(ec);
        wg.done();
      });
      // Meanwhile, a well-behaved client is served.
      for (int i = 0; i < 5; i++) {
        auto c = goro::net::dial("tcp", addr);
        const std::string req = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
        c.write(req.data(), req.size());
        EXPECT_NE(read_all(c, clk::now() + 5s).find("200 OK"), std::string::npos);
        c.close();
        goro::this_fiber::sleep_for(30ms);
      }
      wg.wait();
      EXPECT_TRUE(slow_closed.load());
      EXPECT_TRUE(deaf_closed.load());
      slow.close();
      deaf.close();
    });
  });
}

TEST_P(Http, RandomBytesNeverBreakTheServer) {
  const int before = open_fds();
  goro::run(opts(), [&] {
    hello_http::limits lim;
    lim.read_timeout = 2s;
    with_server(lim, [&](const std::string& addr) {
      const int total = static_cast<int>(scaled(10000, 20));
      const int par = 20;
      std::atomic<int> answered{0}, closed{0};
      goro::wait_group wg;
      wg.add(par);
      for (int f = 0; f < par; f++) {
        goro::go([&, f] {
          std::mt19937 rng(static_cast<unsigned>(f * 7919 + 1));
          for (int i = 0; i < total / par; i++) {
            std::string junk(rng() % 2000, '\0');
            for (char& ch : junk) ch = static_cast<char>(rng() % 4 == 0 ? "\r\n: /"[rng() % 5] : rng() % 256);
            if (rng() % 3 == 0) junk = "GET / HTTP/1.1\r\n" + junk;  // get past the request line sometimes
            auto c = goro::net::dial("tcp", addr);
            std::error_code ec;
            c.write(junk.data(), junk.size(), ec);
            c.shutdown_write(ec);
            const std::string got = read_all(c, clk::now() + 10s);
            if (got.rfind("HTTP/1.1 ", 0) == 0) answered++;
            else closed++;
            c.close();
          }
          wg.done();
        });
      }
      wg.wait();
      EXPECT_EQ(answered + closed, total / par * par);
      EXPECT_GT(answered.load(), 0);
      // Still serving.
      auto c = goro::net::dial("tcp", addr);
      const std::string req = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
      c.write(req.data(), req.size());
      EXPECT_NE(read_all(c, clk::now() + 5s).find("200 OK"), std::string::npos);
      c.close();
    });
  });
  EXPECT_EQ(open_fds(), before);
}

}  // namespace
