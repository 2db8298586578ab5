// goro-bench: the scheduling workloads of docs/workloads.md on goro.
//
//   GORO_MAXPROCS=2 goro-bench <workload>|all|list [n]
//
// Each workload prints exactly
//   workload=<name> p=<P> n=<n> seconds=<wall> metric=<value> unit=<unit> check=ok
// plus, for some, a line starting with "# workload=<name>". A wrong result
// prints check=FAIL and the program exits 1.
#include <goro/goro.hpp>

#include <algorithm>
#include <atomic>
#include <climits>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "peers/cpp_peer.hpp"

namespace {

// The result line, its helpers and the timers' generator are the C++ peers'
// (bench/peers/cpp_peer.hpp), so every C++ side measures the same way.
using peer::clock_type;
using peer::percentile;
using peer::result;
using peer::since;
using peer::splitmix64;

int procs = 0;

// ---------------------------------------------------------------------------
result spawn_join(std::int64_t n) {
  return goro::run({.procs = procs}, [n] {
    std::atomic<std::int64_t> counter{0};
    goro::wait_group wg;
    wg.add(n);
    auto start = clock_type::now();
    for (std::int64_t i = 0; i < n; i++) {
      goro::go([&] {
        counter.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
    double s = since(start);
    std::int64_t got = counter.load();
    return result{n, s, s * 1e9 / double(n), "ns/fiber", got == n,
                  {}, "counter=" + std::to_string(got) + " want " + std::to_string(n)};
  });
}

// ---------------------------------------------------------------------------
void skynet_node(goro::chan<std::int64_t>& out, std::int64_t num, std::int64_t size) {
  if (size == 1) {
    out.send(num);
    return;
  }
  goro::chan<std::int64_t> rc(10);
  const std::int64_t sub = size / 10;
  for (std::int64_t i = 0; i < 10; i++) goro::go(skynet_node, std::ref(rc), num + i * sub, sub);
  std::int64_t sum = 0;
  for (int i = 0; i < 10; i++) sum += *rc.recv();
  out.send(sum);
}

bool is_power_of_10(std::int64_t n) {
  if (n < 1) return false;
  while (n % 10 == 0) n /= 10;
  return n == 1;
}

result skynet(std::int64_t n) {
  return goro::run({.procs = procs}, [n] {
    goro::chan<std::int64_t> root(1);
    auto start = clock_type::now();
    goro::go(skynet_node, std::ref(root), std::int64_t{0}, n);
    std::int64_t sum = *root.recv();
    double s = since(start);
    std::int64_t want = n * (n - 1) / 2;
    return result{n, s, s * 1e3, "ms", sum == want, {},
                  "sum=" + std::to_string(sum) + " want " + std::to_string(want)};
  });
}

// ---------------------------------------------------------------------------
result pingpong(std::int64_t n) {
  return goro::run({.procs = procs}, [n] {
    goro::chan<std::int64_t> a, b;
    std::int64_t final_value = 0;
    goro::wait_group wg;
    wg.add(2);
    auto start = clock_type::now();
    goro::go([&] {
      std::int64_t x = 0;
      for (std::int64_t i = 0; i < n; i++) {
        a.send(x);
        x = *b.recv() + 1;
      }
      final_value = x;
      wg.done();
    });
    goro::go([&] {
      for (std::int64_t i = 0; i < n; i++) {
        std::int64_t v = *a.recv();
        b.send(v + 1);
      }
      wg.done();
    });
    wg.wait();
    double s = since(start);
    return result{n, s, s * 1e9 / double(n), "ns/roundtrip", final_value == 2 * n, {},
                  "final=" + std::to_string(final_value) + " want " + std::to_string(2 * n)};
  });
}

// ---------------------------------------------------------------------------
constexpr int yield_fibers = 1000;

result yield_bench(std::int64_t n) {
  return goro::run({.procs = procs}, [n] {
    const std::int64_t per = n / yield_fibers;
    std::atomic<std::int64_t> total{0};
    goro::wait_group wg;
    wg.add(yield_fibers);
    auto start = clock_type::now();
    for (int f = 0; f < yield_fibers; f++) {
      goro::go([&] {
        std::int64_t k = 0;
        for (std::int64_t i = 0; i < per; i++) {
          goro::this_fiber::yield();
          k++;
        }
        total.fetch_add(k);
        wg.done();
      });
    }
    wg.wait();
    double s = since(start);
    const std::int64_t want = per * yield_fibers;
    return result{want, s, s * 1e9 / double(want), "ns/yield", total.load() == want, {},
                  "yields=" + std::to_string(total.load()) + " want " + std::to_string(want)};
  });
}

// ---------------------------------------------------------------------------
constexpr int mpmc_side = 4;

result mpmc(std::int64_t n, std::size_t capacity) {
  return goro::run({.procs = procs}, [n, capacity] {
    const std::int64_t q = n / mpmc_side;
    const std::int64_t total = q * mpmc_side;
    goro::chan<std::int64_t> ch(capacity);
    std::atomic<std::int64_t> sum{0};
    goro::wait_group prod, cons;
    prod.add(mpmc_side);
    cons.add(mpmc_side);
    auto start = clock_type::now();
    for (int c = 0; c < mpmc_side; c++) {
      goro::go([&] {
        std::int64_t s = 0;
        while (auto v = ch.recv()) s += *v;
        sum.fetch_add(s);
        cons.done();
      });
    }
    for (std::int64_t p = 0; p < mpmc_side; p++) {
      goro::go([&, p] {
        const std::int64_t base = p * q;
        for (std::int64_t i = 1; i <= q; i++) ch.send(base + i);
        prod.done();
      });
    }
    prod.wait();
    ch.close();
    cons.wait();
    double s = since(start);
    const std::int64_t want = total * (total + 1) / 2;
    return result{total, s, double(total) / s / 1e6, "Mmsg/s", sum.load() == want, {},
                  "sum=" + std::to_string(sum.load()) + " want " + std::to_string(want)};
  });
}

result chan_mpmc(std::int64_t n) { return mpmc(n, 1024); }
result chan_unbuffered_mpmc(std::int64_t n) { return mpmc(n, 0); }

// ---------------------------------------------------------------------------
constexpr int mutex_fibers = 1000;

result mutex_bench(std::int64_t n) {
  return goro::run({.procs = procs}, [n] {
    const std::int64_t per = n / mutex_fibers;
    goro::mutex mu;
    std::int64_t counter = 0;  // protected by mu only
    goro::wait_group wg;
    wg.add(mutex_fibers);
    auto start = clock_type::now();
    for (int f = 0; f < mutex_fibers; f++) {
      goro::go([&] {
        for (std::int64_t i = 0; i < per; i++) {
          mu.lock();
          counter++;
          mu.unlock();
        }
        wg.done();
      });
    }
    wg.wait();
    double s = since(start);
    const std::int64_t want = per * mutex_fibers;
    return result{want, s, s * 1e9 / double(want), "ns/op", counter == want, {},
                  "counter=" + std::to_string(counter) + " want " + std::to_string(want)};
  });
}

// ---------------------------------------------------------------------------
std::int64_t fib_fork(int k) {
  if (k < 2) return k;
  goro::chan<std::int64_t> ch(1);
  goro::go([&ch, k] { ch.send(fib_fork(k - 1)); });
  std::int64_t b = fib_fork(k - 2);
  return *ch.recv() + b;
}

std::int64_t fib_serial(int k) {
  std::int64_t a = 0, b = 1;
  for (int i = 0; i < k; i++) {
    std::int64_t t = a + b;
    a = b;
    b = t;
  }
  return a;
}

result fib(std::int64_t n) {
  const int k = static_cast<int>(n);
  return goro::run({.procs = procs}, [k] {
    auto start = clock_type::now();
    std::int64_t got = fib_fork(k);
    double s = since(start);
    const std::int64_t want = fib_serial(k);
    const std::int64_t spawns = fib_serial(k + 1) - 1;
    result r{spawns, s, s * 1e3, "ms", got == want, {},
             "fib(" + std::to_string(k) + ")=" + std::to_string(got) + " want " + std::to_string(want)};
    r.note = "# workload=fib k=" + std::to_string(k) + " result=" + std::to_string(got) +
              " spawns=" + std::to_string(spawns);
    return r;
  });
}

// ---------------------------------------------------------------------------
// timers: every sleeper is spawned and parked on a start barrier (a channel
// main closes) before T0 is fixed, so spawning and first-touch page faults stay
// out of the measurement. T0 = barrier + 400 ms; sleeper i sleeps until
// T0 + d_i (d_i from splitmix64, seed 12345, as every peer draws it) and
// records how late it woke. A sleeper that reaches sleep_until after T0 makes
// the run invalid: its lateness would include the barrier's wake-up.
constexpr auto timer_lead = std::chrono::milliseconds(400);
constexpr std::uint64_t timer_window_ns = 100'000'000;

result timers_bench(std::int64_t n) {
  return goro::run({.procs = procs}, [n] {
    const auto count = static_cast<std::size_t>(n);
    std::vector<std::int64_t> offsets(count);
    std::uint64_t seed = 12345;
    for (auto& d : offsets) d = static_cast<std::int64_t>(splitmix64(seed) % timer_window_ns);
    // Per sleeper: ns after T0 at which it called sleep_until (negative: in
    // time), and ns it woke after its deadline (INT64_MIN: never woke).
    std::vector<std::int64_t> armed(count, INT64_MAX), late(count, INT64_MIN);
    goro::wait_group ready, done;
    ready.add(n);
    done.add(n);
    goro::chan<int> barrier;  // closed, never sent on
    clock_type::time_point t0;  // written before close(barrier), read after recv sees the close
    for (std::size_t i = 0; i < count; i++) {
      goro::go([&, i] {
        ready.done();
        barrier.recv();
        const auto deadline = t0 + std::chrono::nanoseconds(offsets[i]);
        const auto now = clock_type::now();
        armed[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(now - t0).count();
        goro::this_fiber::sleep_until(deadline);
        late[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - deadline).count();
        done.done();
      });
    }
    ready.wait();
    t0 = clock_type::now() + timer_lead;
    barrier.close();
    done.wait();
    const double s = since(t0);
    bool ok = true;
    std::string msg;
    const std::int64_t last_armed = *std::max_element(armed.begin(), armed.end());
    if (last_armed > 0) {
      ok = false;
      msg = "the last sleeper called sleep " + std::to_string(last_armed / 1000) +
            " us after T0: the run is invalid";
    }
    for (std::size_t i = 0; i < count && ok; i++) {
      if (late[i] < 0) {
        ok = false;
        msg = "sleeper " + std::to_string(i) + " woke early (or never)";
      }
    }
    std::vector<std::int64_t> sorted = late;
    std::sort(sorted.begin(), sorted.end());
    const double p50 = double(percentile(sorted, 0.50)) / 1e3;
    const double p99 = double(percentile(sorted, 0.99)) / 1e3;
    const double mx = double(sorted.back()) / 1e3;
    result r{n, s, p99, "us_p99_late", ok, {}, msg};
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "# workload=timers total_ms=%.1f p50_late_us=%.1f p99_late_us=%.1f max_late_us=%.1f "
                  "last_armed_ms_before_t0=%.1f",
                  s * 1e3, p50, p99, mx, double(-last_armed) / 1e6);
    r.note = buf;
    return r;
  });
}

// ---------------------------------------------------------------------------
result parked_memory(std::int64_t n) {
  return goro::run({.procs = procs}, [n] {
    const std::int64_t rss0 = peer::resident_bytes();
    std::unique_ptr<goro::chan<std::int64_t>[]> chans(new goro::chan<std::int64_t>[n]);
    const std::int64_t base = peer::resident_bytes();
    std::atomic<std::int64_t> parked{0}, sum{0};
    goro::wait_group wg;
    wg.add(n);
    auto start = clock_type::now();
    for (std::int64_t i = 0; i < n; i++) {
      goro::go([&, c = &chans[i]] {
        parked.fetch_add(1);
        sum.fetch_add(*c->recv());
        wg.done();
      });
    }
    while (parked.load() < n) goro::this_fiber::yield();
    // Every fiber has counted itself; give the last few time to park (the
    // Go peer sleeps 100 ms here too).
    goro::blocking([] { std::this_thread::sleep_for(std::chrono::milliseconds(100)); });
    const std::int64_t parked_rss = peer::resident_bytes();
    for (std::int64_t i = 0; i < n; i++) chans[i].send(i + 1);
    wg.wait();
    double s = since(start);
    const std::int64_t want = n * (n + 1) / 2;
    double per = double(parked_rss - base) / double(n);
    result r{n, s, per, "bytes/fiber", sum.load() == want, {},
             "sum=" + std::to_string(sum.load()) + " want " + std::to_string(want)};
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "# workload=parked_memory rss_before_channels=%lld rss_baseline=%lld rss_parked=%lld "
                  "channel_bytes_each=%.1f",
                  (long long)rss0, (long long)base, (long long)parked_rss, double(base - rss0) / double(n));
    r.note = buf;
    return r;
  });
}

// ---------------------------------------------------------------------------
// echo: a TCP echo server on 127.0.0.1 (ephemeral port) in this runtime;
// 100 client fibers, each on its own connection, send a 64-byte message and
// read the reply, n/100 times each. Thousand round trips per second; the
// p50 and p99 round-trip latency go on the "# " line (as the Go peer).
constexpr int echo_clients = 100;
constexpr std::size_t echo_msg = 64;

result echo_bench(std::int64_t n) {
  return goro::run({.procs = procs}, [n] {
    const std::int64_t per = n / echo_clients;
    const std::int64_t total = per * echo_clients;
    auto ln = goro::net::listen("tcp", "127.0.0.1:0");
    goro::wait_group server;
    server.add(1);
    goro::go([ln, &server]() mutable {
      for (;;) {
        std::error_code ec;
        goro::net::conn c = ln.accept(ec);
        if (ec) break;
        server.add(1);
        goro::go([c, &server]() mutable {
          char buf[echo_msg];
          std::error_code e;
          while (c.read_full(buf, echo_msg, e) == echo_msg && !e) {
            c.write(buf, echo_msg, e);
            if (e) break;
          }
          c.close(e);
          server.done();
        });
      }
      server.done();
    });
    std::vector<goro::net::conn> conns;
    for (int i = 0; i < echo_clients; i++) conns.push_back(goro::net::dial("tcp", ln.address().to_string()));
    std::vector<std::int64_t> lat(static_cast<std::size_t>(total));
    std::atomic<std::int64_t> bad{0};
    goro::wait_group wg;
    wg.add(echo_clients);
    const auto start = clock_type::now();
    for (int ci = 0; ci < echo_clients; ci++) {
      goro::go([&, ci] {
        goro::net::conn& c = conns[static_cast<std::size_t>(ci)];
        unsigned char msg[echo_msg], reply[echo_msg];
        for (std::int64_t i = 0; i < per; i++) {
          // A pattern unique to (client, i), as the Go peer's.
          for (std::size_t k = 0; k < echo_msg; k++)
            msg[k] = static_cast<unsigned char>(ci * 131 + i * 7 + static_cast<std::int64_t>(k));
          const auto t0 = clock_type::now();
          std::error_code ec;
          c.write(msg, echo_msg, ec);
          if (!ec) c.read_full(reply, echo_msg, ec);
          if (ec) {
            bad.fetch_add(per - i, std::memory_order_relaxed);
            break;
          }
          lat[static_cast<std::size_t>(ci * per + i)] =
              std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0).count();
          if (std::memcmp(msg, reply, echo_msg) != 0) bad.fetch_add(1, std::memory_order_relaxed);
        }
        wg.done();
      });
    }
    wg.wait();
    const double s = since(start);
    for (auto& c : conns) c.close();
    ln.close();
    server.wait();
    std::sort(lat.begin(), lat.end());
    const double p50 = double(percentile(lat, 0.50)) / 1e3;
    const double p99 = double(percentile(lat, 0.99)) / 1e3;
    const std::int64_t b = bad.load();
    result r{total, s, double(total) / s / 1e3, "krt/s", b == 0, {}, std::to_string(b) + " bad or missing replies"};
    char buf[160];
    std::snprintf(buf, sizeof buf, "# workload=echo clients=%d msg_bytes=%zu p50_us=%.1f p99_us=%.1f", echo_clients,
                  echo_msg, p50, p99);
    r.note = buf;
    return r;
  });
}

// ---------------------------------------------------------------------------
// pool: n tiny tasks through a goro::pool of pool_workers workers with a
// queue of as many places (the Go peer's buffered channel of workers),
// submitted by one fiber; each adds its index to a sum. The `#` line gives,
// from the same run, the same tasks through the pool without a queue (ants'
// direct hand-off, the pool's default) and as plain go() + wait_group.
constexpr int pool_workers = 1000;

// Runs n tasks through submit(i) and returns seconds; sum must match.
template <class Submit, class Wait>
double time_tasks(std::int64_t n, std::atomic<std::int64_t>& sum, Submit submit, Wait wait) {
  sum.store(0, std::memory_order_relaxed);  // before any task exists
  auto start = clock_type::now();
  for (std::int64_t i = 0; i < n; i++) submit(i);
  wait();
  return since(start);
}

result pool_bench(std::int64_t n) {
  return goro::run({.procs = procs}, [n] {
    const std::int64_t want = n * (n - 1) / 2;
    std::atomic<std::int64_t> sum{0};
    auto task = [&sum](std::int64_t i) {
      return [&sum, i] { sum.fetch_add(i, std::memory_order_relaxed); };  // relaxed: read after the wait
    };
    std::string bad;
    auto check = [&](const char* what) {
      const std::int64_t got = sum.load();
      if (got != want) bad += std::string(what) + " sum=" + std::to_string(got) + " want " + std::to_string(want) + "; ";
    };

    goro::pool queued({.capacity = pool_workers, .queue_size = pool_workers});
    const double s = time_tasks(
        n, sum, [&](std::int64_t i) { queued.submit(task(i)); }, [&] { queued.wait(); });
    check("pool with a queue");
    queued.release();

    goro::pool direct({.capacity = pool_workers});
    const double direct_s = time_tasks(
        n, sum, [&](std::int64_t i) { direct.submit(task(i)); }, [&] { direct.wait(); });
    check("pool without a queue");
    direct.release();

    goro::wait_group wg;
    wg.add(n);
    const double plain_s = time_tasks(
        n, sum,
        [&](std::int64_t i) {
          goro::go([&wg, t = task(i)]() mutable {
            t();
            wg.done();
          });
        },
        [&] { wg.wait(); });
    check("go+wait_group");

    result r{n, s, s * 1e9 / double(n), "ns/task", bad.empty(), {}, bad};
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "# workload=pool workers=%d queue=%d no_queue_ns_per_task=%.1f go_wait_group_ns_per_task=%.1f",
                  pool_workers, pool_workers, direct_s * 1e9 / double(n), plain_s * 1e9 / double(n));
    r.note = buf;
    return r;
  });
}

struct workload {
  const char* name;
  std::int64_t def_n;
  result (*run)(std::int64_t);
  const char* (*bound)(std::int64_t);
};

const workload workloads[] = {
    {"spawn_join", 1000000, spawn_join, nullptr},
    {"skynet", 1000000, skynet,
     [](std::int64_t n) -> const char* { return is_power_of_10(n) ? nullptr : "skynet needs n to be a power of 10"; }},
    {"pingpong", 1000000, pingpong, nullptr},
    {"yield", 10000000, yield_bench,
     [](std::int64_t n) -> const char* { return n < yield_fibers ? "yield needs n >= 1000" : nullptr; }},
    {"chan_mpmc", 10000000, chan_mpmc, nullptr},
    {"chan_unbuffered_mpmc", 2000000, chan_unbuffered_mpmc, nullptr},
    {"mutex", 10000000, mutex_bench,
     [](std::int64_t n) -> const char* { return n < mutex_fibers ? "mutex needs n >= 1000" : nullptr; }},
    {"fib", 27, fib, [](std::int64_t n) -> const char* { return n > 40 ? "fib: k > 40 would run too long" : nullptr; }},
    {"timers", 100000, timers_bench, nullptr},
    {"parked_memory", 1000000, parked_memory, nullptr},
    {"echo", 1000000, echo_bench, nullptr},
    {"pool", 1000000, pool_bench, nullptr},
};


bool run_one(const workload& w, std::int64_t n) {
  if (w.bound) {
    if (const char* msg = w.bound(n)) {
      std::fprintf(stderr, "goro-bench: %s\n", msg);
      std::exit(2);
    }
  }
  if (!w.run) {
    std::fprintf(stderr, "goro-bench: workload %s is not implemented yet\n", w.name);
    return false;
  }
  result r;
  {
    peer::watchdog dog("goro-bench", w.name, std::chrono::seconds(90));
    r = w.run(n);
  }
  std::printf("workload=%s p=%d n=%lld seconds=%.6f metric=%.3f unit=%s check=%s\n", w.name, procs,
              (long long)r.n, r.seconds, r.metric, r.unit, r.ok ? "ok" : "FAIL");
  if (!r.note.empty()) std::printf("%s\n", r.note.c_str());
  std::fflush(stdout);
  if (!r.ok) std::fprintf(stderr, "goro-bench: %s: %s\n", w.name, r.why.c_str());
  return r.ok;
}

[[noreturn]] void usage() {
  std::string names;
  for (const auto& w : workloads) {
    if (!names.empty()) names += "|";
    names += w.name;
  }
  std::fprintf(stderr, "usage: goro-bench <%s|all|list> [n]\n  procs: GORO_MAXPROCS (default: usable CPUs)\n",
               names.c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) usage();
  const std::string which = argv[1];
  if (which == "list") {  // the workloads this program runs, for scripts/compare
    for (const auto& w : workloads)
      if (w.run) std::printf("%s\n", w.name);
    return 0;
  }
  std::int64_t n_arg = -1;
  if (argc == 3) {
    char* end = nullptr;
    n_arg = std::strtoll(argv[2], &end, 10);
    if (*end != '\0' || n_arg <= 0 || which == "all") usage();
  }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  std::fprintf(stderr, "goro-bench: built with a sanitizer: these numbers mean nothing\n");
#endif
  procs = goro::default_procs();
  bool all_ok = true, found = false;
  for (const auto& w : workloads) {
    if (which != "all" && which != w.name) continue;
    if (which == "all" && !w.run) continue;  // "all" runs what exists
    found = true;
    if (!run_one(w, n_arg > 0 ? n_arg : w.def_n)) all_ok = false;
  }
  if (!found) usage();
  return all_ok ? 0 : 1;
}
