// Helpers shared by the toolkit's tests (pool, workflow).
#pragma once

#include <goro/goro.hpp>

#include "test_util.hpp"

#include <atomic>
#include <chrono>

namespace goro_test {

namespace toolkit {
// goro_test::eventually polling every millisecond (a pool's or an engine's
// fibers get the P between polls), for at most 10 s.
template <class Pred>
bool eventually(Pred pred) {
  return goro_test::eventually(pred, std::chrono::milliseconds(1), std::chrono::seconds(10));
}
}  // namespace toolkit

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
