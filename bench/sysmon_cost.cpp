// What sysmon's watching costs: process CPU time over a wall-clock window
// in three scenarios, at procs 1 and 2:
//   parked   only the main fiber, asleep on a timer for the window: every
//            M and sysmon asleep;
//   ticker   one fiber sleeping 1 ms at a time on goro's timers;
//   unwrapped the ticker, plus a fiber looping over an unwrapped
//            std::this_thread::sleep_for(50 ms), whose P sysmon retakes
//            from the sleeping thread each time (debug/counters.hpp).
// Prints one line per scenario: CPU seconds used, and the retakes by reason.
//
// usage: goro-sysmon-cost [seconds per scenario, default 10]
#include <goro/goro.hpp>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "debug/counters.hpp"

namespace {

using namespace std::chrono_literals;

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void scenario(const char* name, int procs, std::chrono::seconds window, bool ticker, bool unwrapped) {
  namespace c = goro::rt::counters;
  const std::int64_t asleep0 = c::retakes_asleep.load(), busy0 = c::retakes_busy.load();
  double used = 0;
  std::int64_t ticks = 0;
  goro::run({.procs = procs}, [&] {
    std::atomic<bool> stop{false};
    goro::wait_group wg;
    if (ticker) {
      wg.add(1);
      goro::go([&] {
        while (!stop.load()) {
          goro::this_fiber::sleep_for(1ms);
          ticks++;
        }
        wg.done();
      });
    }
    if (unwrapped) {
      wg.add(1);
      goro::go([&] {
        while (!stop.load()) {
          std::this_thread::sleep_for(50ms);
          goro::this_fiber::yield();
        }
        wg.done();
      });
    }
    const double t0 = cpu_seconds();
    goro::this_fiber::sleep_for(window);
    used = cpu_seconds() - t0;
    stop = true;
    wg.wait();
  });
  std::printf("scenario=%s procs=%d seconds=%lld cpu_seconds=%.3f cpu_share=%.4f ticks=%lld retakes_asleep=%lld retakes_busy=%lld\n",
              name, procs, static_cast<long long>(window.count()), used, used / static_cast<double>(window.count()),
              static_cast<long long>(ticks), static_cast<long long>(c::retakes_asleep.load() - asleep0),
              static_cast<long long>(c::retakes_busy.load() - busy0));
}

}  // namespace

int main(int argc, char** argv) {
  const std::chrono::seconds window(argc > 1 ? std::atoi(argv[1]) : 10);
  for (int procs : {1, 2}) {
    scenario("parked", procs, window, false, false);
    scenario("ticker", procs, window, true, false);
    scenario("unwrapped", procs, window, true, true);
  }
}
