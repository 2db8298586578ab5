// Helpers shared by the toolkit's tests (pool, workflow).
#pragma once

#include <goro/goro.hpp>

#include <atomic>
#include <chrono>

namespace goro_test {

// Polls pred (in a fiber) until it holds; false after 10 s. For conditions
// that other fibers bring about and that have no event to wait for (a
// counter reaching a value); nothing asserts how long it took.
template <class Pred>
bool eventually(Pred pred) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    goro::this_fiber::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Counts the tasks running at once and keeps the highest count seen.
struct concurrency {
  std::atomic<int> now{0}, max{0};
  void enter() {
    // seq_cst (default) on both: the count is the test's measurement;
    // simplicity over speed.
    const int n = ++now;
    int m = max.load();
    while (n > m && !max.compare_exchange_weak(m, n)) {
    }
  }
  void leave() { --now; }
};

}  // namespace goro_test
