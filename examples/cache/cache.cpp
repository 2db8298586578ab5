// A loader-backed cache in front of a slow "database": 1,000 fibers ask
// for 10 keys at once, and each key is loaded once (goro::singleflight);
// after the time-to-live the next wave loads them again.
//   ./build/examples/cache
#include "cache.hpp"

#include <cstdio>
#include <string>

using namespace std::chrono_literals;

int main() {
  goro::run([] {
    example::cache<std::string> users(
        [](const goro::context& ctx, const std::string& key) {
          goro::select(goro::on_recv(goro::after(20ms)),  // the slow database
                       goro::on_recv(ctx.done(), [&] { throw goro::context_done_error(ctx.err(), ctx.cause()); }));
          return "profile of " + key;
        },
        100ms);
    auto wave = [&] {
      goro::wait_group wg;
      for (int i = 0; i < 1000; i++) {
        wg.add(1);
        goro::go([&, i] {
          std::string v = users.get(goro::background(), "user:" + std::to_string(i % 10));
          if (v.empty()) std::abort();
          wg.done();
        });
      }
      wg.wait();
    };
    wave();
    std::printf("first wave: 1000 gets, %llu loads\n", static_cast<unsigned long long>(users.loads()));
    wave();
    std::printf("second wave (cached): %llu loads, %llu hits\n", static_cast<unsigned long long>(users.loads()),
                static_cast<unsigned long long>(users.hits()));
    goro::this_fiber::sleep_for(150ms);
    wave();
    std::printf("after the time-to-live: %llu loads\n", static_cast<unsigned long long>(users.loads()));
  });
}
