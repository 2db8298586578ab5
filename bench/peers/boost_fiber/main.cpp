// goro-peer-boost-fiber: the workloads of docs/workloads.md on Boost.Fiber
// (1.74) with its work_stealing algorithm on P threads.
//
//   GORO_MAXPROCS=2 goro-peer-boost-fiber <workload>|all|list [n]
//
// Boost.Fiber mapped onto the definitions:
// - a pool is P threads that each install work_stealing(P); the workload's
//   body runs on the calling thread's main fiber, the helpers run fibers
//   until the body is done (Boost.Fiber's own work_stealing example);
// - every fiber gets a 16 KiB malloc'd stack (fixedsize_stack): the default
//   128 KiB, a million times over (skynet's leaves, parked_memory), is more
//   than the machine has; the stacks never grow;
// - a wait group is a counter under a fiber mutex with a condition variable;
// - buffered_channel takes a power of two and holds one less, so chan_mpmc's
//   1024 holds 1023;
// - the start barrier of timers is an unbuffered channel that main closes.
// echo is not expressed: Boost.Fiber has no network I/O that parks a fiber
// instead of blocking its thread.
#include <boost/fiber/all.hpp>

#include "../cpp_peer.hpp"

#include <algorithm>
#include <atomic>
#include <climits>
#include <memory>
#include <thread>
#include <vector>

namespace {

namespace fibers = boost::fibers;
using peer::clock_type;
using peer::result;
using peer::since;

constexpr std::size_t stack_bytes = 16 * 1024;

// Starts a detached fiber on a small stack.
template <class F>
void spawn(F&& fn) {
  fibers::fiber(std::allocator_arg, fibers::fixedsize_stack(stack_bytes), std::forward<F>(fn)).detach();
}

// Go's sync.WaitGroup on Boost.Fiber primitives.
class wait_group {
 public:
  explicit wait_group(std::int64_t n) : left_(n) {}
  void done() {
    std::lock_guard<fibers::mutex> l(mu_);
    if (--left_ == 0) zero_.notify_all();
  }
  void wait() {
    std::unique_lock<fibers::mutex> l(mu_);
    zero_.wait(l, [this] { return left_ == 0; });
  }

 private:
  fibers::mutex mu_;
  fibers::condition_variable zero_;
  std::int64_t left_;  // guarded by mu_
};

// Runs body on this thread's main fiber inside a work-stealing pool of p
// threads; the helpers keep scheduling fibers until body has returned.
template <class F>
result in_pool(int p, F body) {
  fibers::barrier started(static_cast<std::size_t>(p));
  fibers::mutex mu;
  fibers::condition_variable_any cv;
  bool finished = false;  // guarded by mu
  std::vector<std::thread> helpers;
  for (int i = 1; i < p; i++) {
    helpers.emplace_back([&] {
      fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(static_cast<std::uint32_t>(p));
      started.wait();
      std::unique_lock<fibers::mutex> l(mu);
      cv.wait(l, [&] { return finished; });
    });
  }
  fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(static_cast<std::uint32_t>(p));
  started.wait();
  result r = body();
  {
    std::lock_guard<fibers::mutex> l(mu);
    finished = true;
  }
  cv.notify_all();
  for (auto& t : helpers) t.join();
  return r;
}

// ---------------------------------------------------------------------------
result spawn_join(int p, std::int64_t n) {
  return in_pool(p, [n] {
    std::atomic<std::int64_t> counter{0};
    wait_group wg(n);
    const auto start = clock_type::now();
    for (std::int64_t i = 0; i < n; i++) {
      spawn([&] {
        counter.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
    const double s = since(start);
    const std::int64_t got = counter.load();
    return result{n, s, s * 1e9 / double(n), "ns/fiber", got == n, {},
                  "counter " + std::to_string(got) + ", want " + std::to_string(n)};
  });
}

// ---------------------------------------------------------------------------
using int_chan = fibers::buffered_channel<std::int64_t>;

void skynet_node(int_chan& out, std::int64_t num, std::int64_t size) {
  if (size == 1) {
    out.push(num);
    return;
  }
  int_chan kids(16);  // room for all ten replies
  const std::int64_t step = size / 10;
  for (std::int64_t i = 0; i < 10; i++) spawn([&kids, num, i, step] { skynet_node(kids, num + i * step, step); });
  std::int64_t sum = 0;
  for (int i = 0; i < 10; i++) sum += kids.value_pop();
  out.push(sum);
}

result skynet(int p, std::int64_t n) {
  std::int64_t m = n;
  while (m % 10 == 0) m /= 10;
  if (m != 1) return result{n, 0, 0, "ms", false, {}, "skynet needs a power of 10"};
  return in_pool(p, [n] {
    int_chan root(2);
    const auto start = clock_type::now();
    spawn([&root, n] { skynet_node(root, 0, n); });
    const std::int64_t sum = root.value_pop();
    const double s = since(start);
    const std::int64_t want = n * (n - 1) / 2;
    return result{n, s, s * 1e3, "ms", sum == want, {},
                  "sum " + std::to_string(sum) + ", want " + std::to_string(want)};
  });
}

// ---------------------------------------------------------------------------
result pingpong(int p, std::int64_t n) {
  return in_pool(p, [n] {
    fibers::unbuffered_channel<std::int64_t> there, back;
    std::int64_t last = 0;
    wait_group wg(2);
    const auto start = clock_type::now();
    spawn([&] {
      std::int64_t x = 0;
      for (std::int64_t i = 0; i < n; i++) {
        there.push(x);
        x = back.value_pop() + 1;
      }
      last = x;
      wg.done();
    });
    spawn([&] {
      for (std::int64_t i = 0; i < n; i++) back.push(there.value_pop() + 1);
      wg.done();
    });
    wg.wait();
    const double s = since(start);
    return result{n, s, s * 1e9 / double(n), "ns/roundtrip", last == 2 * n, {},
                  "final value " + std::to_string(last) + ", want " + std::to_string(2 * n)};
  });
}

// ---------------------------------------------------------------------------
constexpr std::int64_t crowd = 1000;  // fibers in yield and mutex

result yield_crowd(int p, std::int64_t n) {
  return in_pool(p, [n] {
    const std::int64_t each = n / crowd;
    std::atomic<std::int64_t> yields{0};
    wait_group wg(crowd);
    const auto start = clock_type::now();
    for (std::int64_t f = 0; f < crowd; f++) {
      spawn([&] {
        std::int64_t k = 0;
        for (; k < each; k++) boost::this_fiber::yield();
        yields.fetch_add(k);
        wg.done();
      });
    }
    wg.wait();
    const double s = since(start);
    const std::int64_t want = each * crowd;
    return result{want, s, s * 1e9 / double(want), "ns/yield", yields.load() == want, {},
                  std::to_string(yields.load()) + " yields, want " + std::to_string(want)};
  });
}

result mutex_crowd(int p, std::int64_t n) {
  return in_pool(p, [n] {
    const std::int64_t each = n / crowd;
    fibers::mutex mu;
    std::int64_t counter = 0;  // guarded by mu
    wait_group wg(crowd);
    const auto start = clock_type::now();
    for (std::int64_t f = 0; f < crowd; f++) {
      spawn([&] {
        for (std::int64_t i = 0; i < each; i++) {
          std::lock_guard<fibers::mutex> l(mu);
          counter++;
        }
        wg.done();
      });
    }
    wg.wait();
    const double s = since(start);
    const std::int64_t want = each * crowd;
    std::lock_guard<fibers::mutex> l(mu);
    return result{want, s, s * 1e9 / double(want), "ns/op", counter == want, {},
                  "counter " + std::to_string(counter) + ", want " + std::to_string(want)};
  });
}

// ---------------------------------------------------------------------------
constexpr std::int64_t side = 4;  // producers, and consumers

template <class Chan>
result mpmc(int p, std::int64_t n, Chan& ch) {
  return in_pool(p, [n, &ch] {
    const std::int64_t q = n / side;
    const std::int64_t total = q * side;
    std::atomic<std::int64_t> sum{0};
    wait_group producers(side), consumers(side);
    const auto start = clock_type::now();
    for (std::int64_t c = 0; c < side; c++) {
      spawn([&] {
        std::int64_t s = 0, v = 0;
        while (ch.pop(v) == fibers::channel_op_status::success) s += v;
        sum.fetch_add(s);
        consumers.done();
      });
    }
    for (std::int64_t pr = 0; pr < side; pr++) {
      spawn([&, first = pr * q + 1] {
        for (std::int64_t v = first; v < first + q; v++) ch.push(v);
        producers.done();
      });
    }
    producers.wait();
    ch.close();
    consumers.wait();
    const double s = since(start);
    const std::int64_t want = total * (total + 1) / 2;
    return result{total, s, double(total) / s / 1e6, "Mmsg/s", sum.load() == want, {},
                  "sum " + std::to_string(sum.load()) + ", want " + std::to_string(want)};
  });
}

result chan_mpmc(int p, std::int64_t n) {
  fibers::buffered_channel<std::int64_t> ch(1024);
  return mpmc(p, n, ch);
}

result chan_unbuffered_mpmc(int p, std::int64_t n) {
  fibers::unbuffered_channel<std::int64_t> ch;
  return mpmc(p, n, ch);
}

// ---------------------------------------------------------------------------
std::int64_t fork_fib(int k) {
  if (k < 2) return k;
  std::int64_t child = 0;
  fibers::fiber f(std::allocator_arg, fibers::fixedsize_stack(stack_bytes), [&child, k] { child = fork_fib(k - 1); });
  const std::int64_t mine = fork_fib(k - 2);
  f.join();
  return mine + child;
}

std::int64_t loop_fib(int k) {
  std::int64_t a = 0, b = 1;
  for (; k > 0; k--) b = std::exchange(a, b) + b;
  return a;
}

result fib(int p, std::int64_t n) {
  if (n > 40) return result{n, 0, 0, "ms", false, {}, "fib: k > 40 would run for too long"};
  const int k = static_cast<int>(n);
  return in_pool(p, [k] {
    const auto start = clock_type::now();
    const std::int64_t got = fork_fib(k);
    const double s = since(start);
    const std::int64_t want = loop_fib(k), spawns = loop_fib(k + 1) - 1;
    result r{spawns, s, s * 1e3, "ms", got == want, {},
             "fib(" + std::to_string(k) + ") = " + std::to_string(got) + ", want " + std::to_string(want)};
    r.note = "# workload=fib k=" + std::to_string(k) + " result=" + std::to_string(got) +
             " spawns=" + std::to_string(spawns);
    return r;
  });
}

// ---------------------------------------------------------------------------
constexpr auto timer_lead = std::chrono::milliseconds(400);
constexpr std::uint64_t timer_window_ns = 100'000'000;

result timers(int p, std::int64_t n) {
  return in_pool(p, [n] {
    const auto count = static_cast<std::size_t>(n);
    std::vector<std::int64_t> offset(count);
    std::uint64_t seed = 12345;
    for (auto& d : offset) d = static_cast<std::int64_t>(peer::splitmix64(seed) % timer_window_ns);
    // Per sleeper: ns after T0 when it called sleep_until, ns late on waking.
    std::vector<std::int64_t> armed(count, INT64_MAX), late(count, INT64_MIN);
    wait_group ready(n), done(n);
    fibers::unbuffered_channel<int> barrier;  // closed by main, never sent on
    clock_type::time_point t0;                // written before the close, read after it
    for (std::size_t i = 0; i < count; i++) {
      spawn([&, i] {
        ready.done();
        int unused;
        barrier.pop(unused);
        const auto deadline = t0 + std::chrono::nanoseconds(offset[i]);
        armed[i] = peer::ns_between(t0, clock_type::now());
        boost::this_fiber::sleep_until(deadline);
        late[i] = peer::ns_between(deadline, clock_type::now());
        done.done();
      });
    }
    ready.wait();
    t0 = clock_type::now() + timer_lead;
    barrier.close();
    done.wait();
    const double s = since(t0);
    result r{n, s, 0, "us_p99_late", true, {}, {}};
    const std::int64_t last_armed = *std::max_element(armed.begin(), armed.end());
    if (last_armed > 0) {
      r.ok = false;
      r.why = "the last sleeper called sleep_until " + std::to_string(last_armed / 1000) +
              " us after T0: the run is invalid";
    }
    if (auto it = std::find_if(late.begin(), late.end(), [](std::int64_t l) { return l < 0; }); it != late.end()) {
      r.ok = false;
      r.why = "sleeper " + std::to_string(it - late.begin()) + " woke early";
    }
    std::sort(late.begin(), late.end());
    r.metric = double(peer::percentile(late, 0.99)) / 1e3;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "# workload=timers total_ms=%.1f p50_late_us=%.1f p99_late_us=%.1f max_late_us=%.1f "
                  "last_armed_ms_before_t0=%.1f",
                  s * 1e3, double(peer::percentile(late, 0.50)) / 1e3, r.metric, double(late.back()) / 1e3,
                  double(-last_armed) / 1e6);
    r.note = buf;
    return r;
  });
}

// ---------------------------------------------------------------------------
result parked_memory(int p, std::int64_t n) {
  return in_pool(p, [n] {
    const std::int64_t before = peer::resident_bytes();
    std::unique_ptr<fibers::unbuffered_channel<std::int64_t>[]> inbox(
        new fibers::unbuffered_channel<std::int64_t>[static_cast<std::size_t>(n)]);
    const std::int64_t base = peer::resident_bytes();
    std::atomic<std::int64_t> started{0}, sum{0};
    wait_group wg(n);
    const auto start = clock_type::now();
    for (std::int64_t i = 0; i < n; i++) {
      spawn([&, c = &inbox[static_cast<std::size_t>(i)]] {
        started.fetch_add(1);
        sum.fetch_add(c->value_pop());
        wg.done();
      });
    }
    while (started.load() < n) boost::this_fiber::sleep_for(std::chrono::milliseconds(1));
    // The last ones have counted themselves; let them reach the receive.
    boost::this_fiber::sleep_for(std::chrono::milliseconds(100));
    const std::int64_t parked = peer::resident_bytes();
    for (std::int64_t i = 0; i < n; i++) inbox[static_cast<std::size_t>(i)].push(i + 1);
    wg.wait();
    const double s = since(start);
    const std::int64_t want = n * (n + 1) / 2;
    result r{n, s, double(parked - base) / double(n), "bytes/fiber", sum.load() == want, {},
             "sum " + std::to_string(sum.load()) + ", want " + std::to_string(want)};
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "# workload=parked_memory rss_before_channels=%lld rss_baseline=%lld rss_parked=%lld "
                  "channel_bytes_each=%.1f",
                  (long long)before, (long long)base, (long long)parked, double(base - before) / double(n));
    r.note = buf;
    return r;
  });
}

const peer::workload table[] = {
    {"spawn_join", 1'000'000, 1, spawn_join},
    {"skynet", 1'000'000, 1, skynet},
    {"pingpong", 1'000'000, 1, pingpong},
    {"yield", 10'000'000, crowd, yield_crowd},
    {"chan_mpmc", 10'000'000, side, chan_mpmc},
    {"chan_unbuffered_mpmc", 2'000'000, side, chan_unbuffered_mpmc},
    {"mutex", 10'000'000, crowd, mutex_crowd},
    {"fib", 27, 1, fib},  // n is k; the line reports the number of spawns
    {"timers", 100'000, 1, timers},
    {"parked_memory", 1'000'000, 1, parked_memory},
};

}  // namespace

int main(int argc, char** argv) { return peer::main("goro-peer-boost-fiber", table, argc, argv); }
