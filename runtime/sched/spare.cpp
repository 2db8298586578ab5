// The spare Ms (the design is in spare.hpp).
#include "sched/spare.hpp"

#include <mutex>

#include "sched/proc.hpp"
#include "sched/runtime.hpp"

namespace goro::rt {

namespace {

// Two, so that the second of two fibers that do not yield, back to back,
// does not wait for a thread to be created (docs/benchmarks.md measures one
// against two).
constexpr int spare_ms = 2;

void spare_m_main(runtime* rt) {
  std::unique_lock<std::mutex> l(rt->spare.mu);
  for (;;) {
    rt->spare.cv.wait(l, [rt] { return rt->spare.want > 0 || rt->spare.stop; });
    if (rt->spare.stop) return;
    rt->spare.want--;
    l.unlock();
    newm(rt, nullptr, false);  // starts without a P and goes idle (nothing once done)
    l.lock();
  }
}

}  // namespace

void ensure_spare_m(runtime* rt) {
  int n;
  {
    std::lock_guard<futex_lock> l(rt->lock);
    if (rt->done) return;
    n = spare_ms - rt->nmidle - rt->spares_coming;
    if (n <= 0) return;
    // Counted from now on, so that retake waits for these rather than
    // create a thread itself (handoffp); each one uncounts itself when it
    // first reaches the idle list (stopm).
    rt->spares_coming += n;
  }
  {
    std::lock_guard<std::mutex> l(rt->spare.mu);
    rt->spare.want += n;
  }
  rt->spare.cv.notify_one();
}


void spares_start(runtime* rt) {
  {
    std::lock_guard<futex_lock> l(rt->lock);
    rt->spares_coming += spare_ms;
  }
  for (int i = 0; i < spare_ms; i++) newm(rt, nullptr, false);
  rt->spare.thread = std::thread(spare_m_main, rt);
}

void spares_stop(runtime* rt) {
  {
    std::lock_guard<std::mutex> l(rt->spare.mu);
    rt->spare.stop = true;
  }
  rt->spare.cv.notify_one();
  rt->spare.thread.join();
}

}  // namespace goro::rt
