// examples/docs/sync_toolkit.cpp: errgroup, singleflight, a worker pool, futures.
#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <system_error>
#include <vector>

int main() {
  using namespace std::chrono_literals;
  return goro::run([] {
    // errgroup.WithContext: the first failure cancels the group's context.
    auto [g, ctx] = goro::errgroup::with_context(goro::background());
    std::atomic<int> stopped{0};
    for (int i = 0; i < 4; i++)
      g.go([ctx, i, &stopped]() -> std::error_code {
        if (i == 2) return std::make_error_code(std::errc::io_error);
        goro::select(goro::on_recv(ctx.done(), [&] { stopped++; }), goro::on_recv(goro::after(10s)));
        return {};
      });
    const std::error_code first = g.wait();
    std::printf("errgroup: \"%s\", %d others stopped\n", first.message().c_str(), stopped.load());

    // singleflight: 100 callers for one key share one load.
    goro::singleflight<std::string, int> flight;
    goro::chan<int> loaded;  // closed once every caller has joined
    std::atomic<int> loads{0}, shared{0};
    goro::wait_group callers;
    callers.add(100);
    for (int i = 0; i < 100; i++)
      goro::go([&] {
        auto r = flight.do_call("answer", [&] {
          loads++;
          loaded.recv();
          return 42;
        });
        if (r.value == 42 && r.shared) shared++;
        callers.done();
      });
    while (flight.waiting("answer") < 100) goro::this_fiber::yield();
    loaded.close();
    callers.wait();
    std::printf("singleflight: %d load(s), %d callers shared it\n", loads.load(), shared.load());

    // A bounded pool whose tasks return futures.
    goro::pool pool({.capacity = 4});
    std::vector<goro::future<int>> squares;
    for (int i = 1; i <= 10; i++) squares.push_back(pool.submit_future([i] { return i * i; }));
    int sum = 0;
    for (auto& f : squares) sum += f.get();
    pool.release();
    std::printf("pool: sum of squares %d, %lld tasks completed\n", sum, static_cast<long long>(pool.completed()));

    return first == std::errc::io_error && stopped == 3 && loads == 1 && shared == 100 && sum == 385 ? 0 : 1;
  });
}
