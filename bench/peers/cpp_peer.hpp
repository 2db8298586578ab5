// What the C++ peers (boost_fiber/, threads/) share: the result line of
// docs/workloads.md, the command line, a watchdog, and the helpers several
// workloads use (the timers' generator, percentiles, resident memory).
//
// A peer defines its workloads as a table and hands it to peer::main:
//
//   const peer::workload table[] = {{"spawn_join", 1'000'000, 1, spawn_join}, ...};
//   int main(int argc, char** argv) { return peer::main("goro-peer-x", table, argc, argv); }
//
// P comes from GORO_MAXPROCS (as for goro-bench), else the hardware threads.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace peer {

using clock_type = std::chrono::steady_clock;

struct result {
  std::int64_t n = 0;   // work items reported on the line
  double seconds = 0;   // wall time of the timed section
  double metric = 0;
  const char* unit = "";
  bool ok = false;
  std::string note;     // optional second line, starting with "# workload="
  std::string why;      // what was wrong, when !ok
};

struct workload {
  const char* name;
  std::int64_t default_n;
  std::int64_t min_n;
  result (*run)(int procs, std::int64_t n);
};

inline double since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

inline std::int64_t ns_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count();
}

// The generator every side draws the timers' offsets from (seed 12345).
inline std::uint64_t splitmix64(std::uint64_t& state) {
  state += 0x9E3779B97F4A7C15ULL;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The smallest sample with at least fraction p of the samples at or below it.
inline std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(double(sorted.size()) * p + 0.999999999);
  rank = std::min(std::max<std::size_t>(rank, 1), sorted.size());
  return sorted[rank - 1];
}

inline std::int64_t resident_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  std::fprintf(stderr, "peer: no VmRSS in /proc/self/status\n");
  std::exit(1);
}

inline int procs_from_env() {
  if (const char* e = std::getenv("GORO_MAXPROCS")) {
    const int p = std::atoi(e);
    if (p > 0) return p;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

// Ends the process with status 3 if a workload runs past its limit, so a
// hung peer cannot stall a comparison.
class watchdog {
 public:
  watchdog(const char* prog, const char* name, std::chrono::seconds limit)
      : thread_([=, this] {
          std::unique_lock<std::mutex> l(mu_);
          if (!cv_.wait_for(l, limit, [this] { return stop_; })) {
            std::fprintf(stderr, "%s: %s ran past %llds, aborting\n", prog, name, (long long)limit.count());
            std::_Exit(3);
          }
        }) {}
  ~watchdog() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the fields it reads
};

// `prog <workload>|all|list [n]`: list prints the workloads this peer runs.
inline int main(const char* prog, std::span<const workload> table, int argc, char** argv) {
  auto usage = [&] {
    std::string names;
    for (const auto& w : table) names += std::string(names.empty() ? "" : "|") + w.name;
    std::fprintf(stderr, "usage: %s <%s|all|list> [n]   (GORO_MAXPROCS sets P)\n", prog, names.c_str());
    std::exit(2);
  };
  if (argc < 2 || argc > 3) usage();
  const std::string which = argv[1];
  if (which == "list") {
    for (const auto& w : table) std::printf("%s\n", w.name);
    return 0;
  }
  std::int64_t n_arg = 0;
  if (argc == 3) {
    char* end = nullptr;
    n_arg = std::strtoll(argv[2], &end, 10);
    if (*end != '\0' || n_arg <= 0 || which == "all") usage();
  }
  const int p = procs_from_env();
  bool all_ok = true, found = false;
  for (const auto& w : table) {
    if (which != "all" && which != w.name) continue;
    found = true;
    const std::int64_t n = n_arg > 0 ? n_arg : w.default_n;
    if (n < w.min_n) {
      std::fprintf(stderr, "%s: %s needs n >= %lld\n", prog, w.name, (long long)w.min_n);
      return 2;
    }
    result r;
    {
      watchdog dog(prog, w.name, std::chrono::seconds(90));
      r = w.run(p, n);
    }
    std::printf("workload=%s p=%d n=%lld seconds=%.6f metric=%.3f unit=%s check=%s\n", w.name, p,
                (long long)r.n, r.seconds, r.metric, r.unit, r.ok ? "ok" : "FAIL");
    if (!r.note.empty()) std::printf("%s\n", r.note.c_str());
    std::fflush(stdout);
    if (!r.ok) {
      std::fprintf(stderr, "%s: %s: %s\n", prog, w.name, r.why.c_str());
      all_ok = false;
    }
  }
  if (!found) usage();
  return all_ok ? 0 : 1;
}

}  // namespace peer
