// Google Benchmark micro-benchmarks: a raw Boost.Context switch (the floor),
// spawn + join, yield, and a channel round trip.
#include <benchmark/benchmark.h>

#include <boost/context/detail/fcontext.hpp>
#include <goro/goro.hpp>

#include <atomic>

namespace {

namespace bctx = boost::context::detail;

// Two raw fcontext switches per iteration (there and back), no scheduler.
void BM_RawSwitch(benchmark::State& state) {
  static char stack[64 * 1024];
  auto entry = [](bctx::transfer_t t) {
    for (;;) t = bctx::jump_fcontext(t.fctx, nullptr);
  };
  bctx::fcontext_t ctx = bctx::make_fcontext(stack + sizeof stack, sizeof stack, entry);
  for (auto _ : state) {
    auto t = bctx::jump_fcontext(ctx, nullptr);
    ctx = t.fctx;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawSwitch);

void BM_SpawnJoin(benchmark::State& state) {
  goro::run({.procs = static_cast<int>(state.range(0))}, [&] {
    for (auto _ : state) {
      goro::wait_group wg;
      wg.add(1);
      goro::go([&] { wg.done(); });
      wg.wait();
    }
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SpawnJoin)->Arg(1)->Arg(2)->UseRealTime();

// One fiber yielding with nothing else to run, and two yielding in turn.
void BM_Yield(benchmark::State& state) {
  goro::run({.procs = 1}, [&] {
    std::atomic<bool> stop{false};
    goro::wait_group wg;
    if (state.range(0) == 2) {
      wg.add(1);
      goro::go([&] {
        while (!stop.load(std::memory_order_relaxed)) goro::this_fiber::yield();
        wg.done();
      });
    }
    for (auto _ : state) goro::this_fiber::yield();
    stop = true;
    wg.wait();  // the helper uses our locals
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Yield)->Arg(1)->Arg(2)->UseRealTime();

void BM_ChanRoundTrip(benchmark::State& state) {
  goro::run({.procs = static_cast<int>(state.range(0))}, [&] {
    goro::chan<int> a, b;
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {
      while (auto v = a.recv()) b.send(*v);
      wg.done();
    });
    for (auto _ : state) {
      a.send(1);
      benchmark::DoNotOptimize(b.recv());
    }
    a.close();
    wg.wait();  // the echo fiber uses our channels
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ChanRoundTrip)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
