// A small HTTP/1.1 server answering "hello", with keep-alive and pipelining,
// and the limits a server facing the internet needs (see http_server.hpp).
//   ./build/examples/http_hello [address]        (default 127.0.0.1:8080)
//   curl http://127.0.0.1:8080/
//   wrk -t2 -c100 -d10s http://127.0.0.1:8080/
#include <goro/goro.hpp>

#include <cstdio>
#include <string>

#include "http_server.hpp"

int main(int argc, char** argv) {
  const std::string addr = argc > 1 ? argv[1] : "127.0.0.1:8080";
  goro::run([&] {
    auto ln = goro::net::listen("tcp", addr);
    std::printf("http_hello listening on http://%s/\n", ln.address().to_string().c_str());
    std::fflush(stdout);
    hello_http::serve(ln);
  });
}
