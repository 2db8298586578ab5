// goro-peer-threads: the baseline without user-space scheduling. One OS
// thread (std::thread) per fiber of docs/workloads.md, std::mutex and
// std::condition_variable for everything that blocks.
//
//   GORO_MAXPROCS=2 goro-peer-threads <workload>|all|list [n]
//
// P is the number of CPUs the process may run on: the affinity mask is cut
// to the first P usable CPUs, so "the same P" holds for threads too.
//
// Only the workloads whose thread count stays near what a kernel allows:
// spawn_join (threads come and go, few alive at once), pingpong, yield and
// mutex (1,000 threads), chan_mpmc and chan_unbuffered_mpmc (8 threads).
// skynet, fib, timers and parked_memory need 10^5 to 10^6 threads alive at
// once: a Linux default (vm.max_map_count 65530, two maps per thread stack)
// stops at about 32,000. echo would be a thread per connection, the model
// the others exist to replace; it is left out.
#include "../cpp_peer.hpp"

#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace {

using peer::clock_type;
using peer::result;
using peer::since;

// Keeps the first p CPUs of the affinity mask (all of them if there are fewer).
void limit_cpus(int p) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return;
  int kept = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &set)) continue;
    if (kept < p) kept++;
    else CPU_CLR(cpu, &set);
  }
  sched_setaffinity(0, sizeof set, &set);  // threads created later inherit it
}

// Go's sync.WaitGroup for threads.
class wait_group {
 public:
  explicit wait_group(std::int64_t n) : left_(n) {}
  void done() {
    std::lock_guard<std::mutex> l(mu_);
    if (--left_ == 0) zero_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> l(mu_);
    zero_.wait(l, [this] { return left_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable zero_;
  std::int64_t left_;  // guarded by mu_
};

// A Go channel under one mutex. Capacity 0 is a rendezvous: the value waits
// in a one-slot buffer and send returns only once a receiver has taken it
// (receives are counted in order, so "taken" is popped >= my ticket).
template <class T>
class locked_chan {
 public:
  explicit locked_chan(std::size_t capacity) : capacity_(capacity) {}

  void send(T v) {
    std::unique_lock<std::mutex> l(mu_);
    not_full_.wait(l, [this] { return buf_.size() < std::max<std::size_t>(capacity_, 1); });
    buf_.push_back(std::move(v));
    const std::uint64_t ticket = ++pushed_;
    not_empty_.notify_one();
    if (capacity_ == 0) taken_.wait(l, [&] { return popped_ >= ticket; });
  }

  // Empty once the channel is closed and drained.
  std::optional<T> recv() {
    std::unique_lock<std::mutex> l(mu_);
    not_empty_.wait(l, [this] { return !buf_.empty() || closed_; });
    if (buf_.empty()) return std::nullopt;
    T v = std::move(buf_.front());
    buf_.pop_front();
    popped_++;
    not_full_.notify_one();
    if (capacity_ == 0) taken_.notify_all();
    return v;
  }

  void close() {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  const std::size_t capacity_;
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_, taken_;
  std::deque<T> buf_;           // guarded by mu_, as is everything below
  std::uint64_t pushed_ = 0, popped_ = 0;
  bool closed_ = false;
};

// ---------------------------------------------------------------------------
result spawn_join(int, std::int64_t n) {
  // Shared by the threads, which may still be inside done() when wait()
  // returns: the last of them frees it.
  struct shared {
    explicit shared(std::int64_t n) : wg(n) {}
    std::atomic<std::int64_t> counter{0};
    wait_group wg;
  };
  auto st = std::make_shared<shared>(n);
  const auto start = clock_type::now();
  for (std::int64_t i = 0; i < n; i++) {
    std::thread([st] {
      st->counter.fetch_add(1, std::memory_order_relaxed);
      st->wg.done();
    }).detach();
  }
  st->wg.wait();
  const double s = since(start);
  const std::int64_t got = st->counter.load();
  return result{n, s, s * 1e9 / double(n), "ns/fiber", got == n, {},
                "counter " + std::to_string(got) + ", want " + std::to_string(n)};
}

result pingpong(int, std::int64_t n) {
  locked_chan<std::int64_t> there(0), back(0);
  std::int64_t last = 0;
  const auto start = clock_type::now();
  std::thread ping([&] {
    std::int64_t x = 0;
    for (std::int64_t i = 0; i < n; i++) {
      there.send(x);
      x = *back.recv() + 1;
    }
    last = x;
  });
  std::thread pong([&] {
    for (std::int64_t i = 0; i < n; i++) back.send(*there.recv() + 1);
  });
  ping.join();
  pong.join();
  const double s = since(start);
  return result{n, s, s * 1e9 / double(n), "ns/roundtrip", last == 2 * n, {},
                "final value " + std::to_string(last) + ", want " + std::to_string(2 * n)};
}

constexpr std::int64_t crowd = 1000;  // threads in yield and mutex

template <class Body>
double run_crowd(Body body) {
  std::vector<std::thread> ts;
  ts.reserve(crowd);
  const auto start = clock_type::now();
  for (std::int64_t t = 0; t < crowd; t++) ts.emplace_back(body);
  for (auto& t : ts) t.join();
  return since(start);
}

result yield_crowd(int, std::int64_t n) {
  const std::int64_t each = n / crowd;
  std::atomic<std::int64_t> yields{0};
  const double s = run_crowd([&] {
    std::int64_t k = 0;
    for (; k < each; k++) std::this_thread::yield();
    yields.fetch_add(k);
  });
  const std::int64_t want = each * crowd;
  return result{want, s, s * 1e9 / double(want), "ns/yield", yields.load() == want, {},
                std::to_string(yields.load()) + " yields, want " + std::to_string(want)};
}

result mutex_crowd(int, std::int64_t n) {
  const std::int64_t each = n / crowd;
  std::mutex mu;
  std::int64_t counter = 0;  // guarded by mu
  const double s = run_crowd([&] {
    for (std::int64_t i = 0; i < each; i++) {
      std::lock_guard<std::mutex> l(mu);
      counter++;
    }
  });
  const std::int64_t want = each * crowd;
  return result{want, s, s * 1e9 / double(want), "ns/op", counter == want, {},
                "counter " + std::to_string(counter) + ", want " + std::to_string(want)};
}

constexpr std::int64_t side = 4;  // producer threads, and consumer threads

result mpmc(std::int64_t n, std::size_t capacity) {
  const std::int64_t q = n / side;
  const std::int64_t total = q * side;
  locked_chan<std::int64_t> ch(capacity);
  std::atomic<std::int64_t> sum{0};
  std::vector<std::thread> consumers, producers;
  const auto start = clock_type::now();
  for (std::int64_t c = 0; c < side; c++) {
    consumers.emplace_back([&] {
      std::int64_t s = 0;
      while (auto v = ch.recv()) s += *v;
      sum.fetch_add(s);
    });
  }
  for (std::int64_t p = 0; p < side; p++) {
    producers.emplace_back([&ch, first = p * q + 1, q] {
      for (std::int64_t v = first; v < first + q; v++) ch.send(v);
    });
  }
  for (auto& t : producers) t.join();
  ch.close();
  for (auto& t : consumers) t.join();
  const double s = since(start);
  const std::int64_t want = total * (total + 1) / 2;
  return result{total, s, double(total) / s / 1e6, "Mmsg/s", sum.load() == want, {},
                "sum " + std::to_string(sum.load()) + ", want " + std::to_string(want)};
}

result chan_mpmc(int, std::int64_t n) { return mpmc(n, 1024); }
result chan_unbuffered_mpmc(int, std::int64_t n) { return mpmc(n, 0); }

const peer::workload table[] = {
    {"spawn_join", 1'000'000, 1, spawn_join},
    {"pingpong", 1'000'000, 1, pingpong},
    {"yield", 10'000'000, crowd, yield_crowd},
    {"chan_mpmc", 10'000'000, side, chan_mpmc},
    {"chan_unbuffered_mpmc", 2'000'000, side, chan_unbuffered_mpmc},
    {"mutex", 10'000'000, crowd, mutex_crowd},
};

}  // namespace

int main(int argc, char** argv) {
  limit_cpus(peer::procs_from_env());
  return peer::main("goro-peer-threads", table, argc, argv);
}
