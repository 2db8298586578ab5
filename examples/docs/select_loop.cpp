// examples/docs/select_loop.cpp: a for-select loop, nil cases, default, timeout.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>

int main() {
  using namespace std::chrono_literals;
  return goro::run([] {
    goro::chan<int> a(4), b(4);
    auto produce = [](goro::chan<int> c, int from) {
      for (int i = from; i < from + 3; i++) c.send(i);
      c.close();
    };
    goro::go(produce, a, 1);
    goro::go(produce, b, 10);
    int sum = 0;
    while (a || b) {  // until both are nil
      goro::select(
          // A handler is a lambda: `return` in it leaves the handler only.
          goro::on_recv(a, [&](std::optional<int> v) {
            if (v) sum += *v;
            else a = nullptr;  // closed: a nil channel disables the case
          }),
          goro::on_recv(b, [&](std::optional<int> v) {
            if (v) sum += *v;
            else b = nullptr;
          }));
    }
    // With on_default, select never blocks.
    bool idle = false;
    goro::chan<int> never;
    goro::select(goro::on_recv(never), goro::on_default([&] { idle = true; }));
    // select returns the index of the case that ran: here 1, the timeout.
    const std::size_t which = goro::select(goro::on_recv(never), goro::on_recv(goro::after(10ms)));
    std::printf("sum %d, idle %d, timed out %d\n", sum, idle, which == 1);
    return sum == 39 && idle && which == 1 ? 0 : 1;
  });
}
