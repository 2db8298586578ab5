// A first goro program: fan work out to fibers, collect over a channel.
//   GORO_MAXPROCS=2 ./build/examples/hello
#include <goro/goro.hpp>

#include <cstdio>

int main() {
  const long total = goro::run([] {
    goro::chan<long> results(16);
    goro::wait_group wg;
    for (long i = 1; i <= 100; i++) {
      wg.add(1);
      goro::go([&results, &wg](long k) {
        results.send(k * k);
        wg.done();
      }, i);
    }
    goro::go([&] {
      wg.wait();
      results.close();
    });
    long sum = 0;
    while (auto v = results.recv()) sum += *v;
    return sum;
  });
  std::printf("sum of squares 1..100 = %ld (fibers ran on %d procs)\n", total, goro::default_procs());
  return total == 338350 ? 0 : 1;
}
