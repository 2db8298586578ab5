// boost-fiber-bench: the WORKLOADS.md `yield` and `spawn_join` workloads on
// Boost.Fiber (work_stealing scheduler, P threads), printing the same line
// as goro-bench, so the two can be compared on this machine.
//
//   build/bench/boost-fiber-bench yield|spawn_join [n]     (P from GORO_MAXPROCS, default 2)
#include <boost/fiber/all.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

int procs() {
  const char* e = std::getenv("GORO_MAXPROCS");
  const int p = e ? std::atoi(e) : 2;
  return p > 0 ? p : 2;
}

// Run `body` on a fiber of a work-stealing pool of p threads (this one and
// p - 1 helpers), as in Boost.Fiber's work_stealing example.
template <class F>
void with_pool(int p, F body) {
  boost::fibers::barrier start(static_cast<std::size_t>(p));
  boost::fibers::mutex mu;
  boost::fibers::condition_variable_any cv;
  bool finished = false;
  std::vector<std::thread> helpers;
  for (int i = 1; i < p; i++) {
    helpers.emplace_back([&] {
      boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(static_cast<std::uint32_t>(p));
      start.wait();
      std::unique_lock<boost::fibers::mutex> l(mu);
      cv.wait(l, [&] { return finished; });
    });
  }
  boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(static_cast<std::uint32_t>(p));
  start.wait();
  body();
  {
    std::lock_guard<boost::fibers::mutex> l(mu);
    finished = true;
  }
  cv.notify_all();
  for (auto& t : helpers) t.join();
}

void print(const char* name, int p, std::int64_t n, double s, double metric, const char* unit, bool ok) {
  std::printf("workload=%s p=%d n=%lld seconds=%.6f metric=%.3f unit=%s check=%s\n", name, p,
              static_cast<long long>(n), s, metric, unit, ok ? "ok" : "FAIL");
}

int yield_bench(int p, std::int64_t n) {
  constexpr int fibers = 1000;
  const std::int64_t per = n / fibers;
  std::atomic<std::int64_t> total{0};
  double s = 0;
  with_pool(p, [&] {
    const auto t0 = clock_type::now();
    std::vector<boost::fibers::fiber> fs;
    fs.reserve(fibers);
    for (int f = 0; f < fibers; f++)
      fs.emplace_back([&] {
        for (std::int64_t i = 0; i < per; i++) boost::this_fiber::yield();
        total.fetch_add(per);
      });
    for (auto& f : fs) f.join();
    s = std::chrono::duration<double>(clock_type::now() - t0).count();
  });
  const std::int64_t want = per * fibers;
  print("yield", p, want, s, s * 1e9 / double(want), "ns/yield", total.load() == want);
  return total.load() == want ? 0 : 1;
}

int spawn_join_bench(int p, std::int64_t n) {
  std::atomic<std::int64_t> counter{0};
  double s = 0;
  with_pool(p, [&] {
    const auto t0 = clock_type::now();
    boost::fibers::mutex mu;
    boost::fibers::condition_variable cv;
    std::int64_t left = n;
    for (std::int64_t i = 0; i < n; i++) {
      boost::fibers::fiber([&] {
        counter.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard<boost::fibers::mutex> l(mu);
        if (--left == 0) cv.notify_all();
      }).detach();
    }
    std::unique_lock<boost::fibers::mutex> l(mu);
    cv.wait(l, [&] { return left == 0; });
    s = std::chrono::duration<double>(clock_type::now() - t0).count();
  });
  print("spawn_join", p, n, s, s * 1e9 / double(n), "ns/fiber", counter.load() == n);
  return counter.load() == n ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: boost-fiber-bench yield|spawn_join [n]\n");
    return 2;
  }
  const int p = procs();
  const std::string w = argv[1];
  if (w == "yield") return yield_bench(p, argc > 2 ? std::atoll(argv[2]) : 10'000'000);
  if (w == "spawn_join") return spawn_join_bench(p, argc > 2 ? std::atoll(argv[2]) : 1'000'000);
  std::fprintf(stderr, "boost-fiber-bench: unknown workload %s\n", w.c_str());
  return 2;
}
