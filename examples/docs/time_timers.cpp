// examples/docs/time_timers.cpp: time.Sleep, time.After, time.Timer, time.Ticker.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>

int main() {
  using namespace std::chrono_literals;
  return goro::run([] {
    const auto t0 = goro::steady_clock::now();
    goro::this_fiber::sleep_for(5ms);  // time.Sleep(5 * time.Millisecond)
    auto fired = goro::after(5ms).recv();  // <-time.After(...): the time it fired
    goro::timer t(1h);  // time.NewTimer(time.Hour)
    const bool was_pending = t.stop();  // t.Stop(): it will not fire now
    t.reset(1ms);  // t.Reset(time.Millisecond)
    t.channel().recv();  // <-t.C
    goro::ticker tick(2ms);  // time.NewTicker(2 * time.Millisecond)
    int ticks = 0;
    for (auto c = tick.channel(); ticks < 3; ticks++) c.recv();  // <-tick.C
    tick.stop();  // tick.Stop()
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(goro::steady_clock::now() - t0);
    std::printf("%d ticks, %lld ms\n", ticks, static_cast<long long>(ms.count()));
    return fired && was_pending && ms >= 17ms ? 0 : 1;
  });
}
