// A program that uses an installed goro: a producer feeds numbers through an
// unbuffered channel to a pool of worker fibers, which send their squares to
// a collector. Prints one line and exits 0 only if the sum is right.
// Built by examples/consumer/CMakeLists.txt (find_package) and by
//   c++ -std=c++20 consumer.cpp $(pkg-config --cflags --libs goro)
#include <goro/goro.hpp>
#include <goro/version.hpp>

#include <cstdio>

int main() {
  constexpr long n = 1000;
  constexpr int workers = 8;
  const long sum = goro::run([] {
    // chan is a shared handle: each fiber holds its own copy.
    goro::chan<long> jobs;  // unbuffered: each send meets a worker
    goro::chan<long> squares(64);
    goro::chan<long> total(1);
    goro::go([jobs]() mutable {
      for (long i = 1; i <= n; i++) jobs.send(i);
      jobs.close();
    });
    goro::wait_group wg;
    for (int w = 0; w < workers; w++) {
      wg.add(1);
      goro::go([jobs, squares, &wg]() mutable {
        for (long k : jobs) squares.send(k * k);  // until jobs is closed and drained
        wg.done();
      });
    }
    goro::go([squares, total]() mutable {
      long t = 0;
      for (long s : squares) t += s;
      total.send(t);
    });
    wg.wait();        // every square has been sent
    squares.close();  // so the collector stops once it has taken them all
    return *total.recv();
  });
  constexpr long expected = n * (n + 1) * (2 * n + 1) / 6;
  const bool ok = sum == expected;
  std::printf("goro %s: %d worker fibers squared 1..%ld, sum %ld: %s\n", GORO_VERSION_STRING, workers, n, sum,
              ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
