// examples/docs/errors_panics.cpp: panic and recover become throw and catch.
#include <goro/goro.hpp>

#include <cstdio>
#include <stdexcept>

int main() {
  int recovered = 0;
  try {
    goro::run([&] {
      goro::chan<int> c(1);
      c.close();
      try {
        c.send(1);  // Go panics: "send on closed channel"
      } catch (const goro::closed_channel_error& e) {
        recovered++;
        std::printf("caught: %s\n", e.what());
      }
      goro::wait_group wg;
      wg.add(1);
      goro::go([&] {
        // recover() belongs in the fiber: an exception that escapes a
        // fiber other than main ends the process.
        try {
          throw std::runtime_error("bad input");
        } catch (const std::exception&) {
          recovered++;
        }
        wg.done();
      });
      wg.wait();
      throw std::runtime_error("main failed");  // run rethrows this
    });
  } catch (const std::runtime_error& e) {
    std::printf("run threw: %s\n", e.what());
    return recovered == 2 ? 0 : 1;
  }
  return 1;
}
