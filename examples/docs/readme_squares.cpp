#include <goro/goro.hpp>

int main() {
  long sum = goro::run([] {            // the calling thread becomes the first M
    goro::chan<long> results(16);
    goro::wait_group wg;
    for (long i = 1; i <= 100; i++) {
      wg.add(1);
      goro::go([&](long k) { results.send(k * k); wg.done(); }, i);
    }
    goro::go([&] { wg.wait(); results.close(); });
    long s = 0;
    while (auto v = results.recv()) s += *v;
    return s;
  });                                   // returns once every fiber finished
  return sum == 338350 ? 0 : 1;
}
