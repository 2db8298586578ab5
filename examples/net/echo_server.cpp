// A TCP echo server: one fiber per connection, plain blocking-style code.
//   ./build/examples/echo_server [address]      (default 127.0.0.1:8080)
//   printf 'hi\n' | nc -q1 127.0.0.1 8080
#include <goro/goro.hpp>

#include <cstdio>
#include <string>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  const std::string addr = argc > 1 ? argv[1] : "127.0.0.1:8080";
  goro::run([&] {
    auto ln = goro::net::listen("tcp", addr);
    std::printf("echo server listening on %s\n", ln.address().to_string().c_str());
    std::fflush(stdout);
    for (;;) {
      std::error_code ec;
      goro::net::conn c = ln.accept(ec);
      if (ec) {  // out of descriptors, say: wait a little, as Go's server does
        std::fprintf(stderr, "accept: %s\n", ec.message().c_str());
        goro::this_fiber::sleep_for(5ms);
        continue;
      }
      goro::go([c]() mutable {
        char buf[4096];
        std::error_code e;
        while (std::size_t n = c.read(buf, sizeof buf, e)) {
          c.write(buf, n, e);
          if (e) break;
        }
        c.close(e);
      });
    }
  });
}
