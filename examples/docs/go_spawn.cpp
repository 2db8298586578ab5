// examples/docs/go_spawn.cpp: `go f(x)` and sync.WaitGroup.
#include <goro/goro.hpp>

#include <atomic>
#include <cstdio>

void work(int id, std::atomic<int>& sum) { sum += id; }

int main() {
  int total = goro::run([] {
    std::atomic<int> sum{0};
    goro::wait_group wg;
    for (int i = 1; i <= 10; i++) {
      wg.add(1);
      // Arguments are copied when go is called, as in `go work(i)`;
      // std::ref shares an object instead.
      goro::go([&wg](int id, std::atomic<int>& s) {
        work(id, s);
        wg.done();
      }, i, std::ref(sum));
    }
    wg.wait();
    return sum.load();
  });  // run returns once every fiber has finished
  std::printf("sum %d\n", total);
  return total == 55 ? 0 : 1;
}
