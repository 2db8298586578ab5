// examples/docs/keep_alive.cpp: a plain thread that wakes a fiber late.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

int main() {
  std::thread worker;
  const int got = goro::run([&] {
    goro::chan<int> result;
    goro::keep_alive alive;  // fibers waiting on worker are not a deadlock
    worker = std::thread([result, alive = std::move(alive)]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(400));  // longer than the 250 ms grace
      result.send(42);
      alive.reset();  // done with the runtime's fibers
    });
    return *result.recv();
  });
  worker.join();
  std::printf("got %d\n", got);
  return got == 42 ? 0 : 1;
}
