// goro::stats, goro::dump, the SIGQUIT dump and GORO_SCHEDTRACE.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <thread>
#include <chrono>
#include <cstdlib>
#include <numeric>
#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <string>

#include "runtime_fixture.hpp"
#include "test_util.hpp"
#include "sched/p.hpp"

namespace {

using namespace std::chrono_literals;

std::uint64_t sum(const goro::runtime_stats& s, std::uint64_t goro::proc_stats::*field) {
  std::uint64_t n = 0;
  for (const auto& p : s.p) n += p.*field;
  return n;
}

using goro_test::eventually;

class Stats : public goro_test::LeakChecked<::testing::TestWithParam<int>> {};

TEST_P(Stats, SpawningNFibersAddsNToTheTotalAndStarts) {
  const int n = static_cast<int>(goro_test::scaled(2000));
  goro::run(goro::options{.procs = GetParam()}, [&] {
    const goro::runtime_stats before = goro::stats();
    EXPECT_EQ(before.procs, GetParam());
    ASSERT_EQ(before.p.size(), static_cast<std::size_t>(GetParam()));
    EXPECT_EQ(before.live_fibers, 1);
    EXPECT_EQ(before.total_fibers, 1u);  // main
    goro::wait_group wg;
    std::atomic<int> ran{0};
    for (int i = 0; i < n; i++) {
      wg.add(1);
      goro::go([&] {
        ran.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
    const goro::runtime_stats after = goro::stats();
    EXPECT_EQ(ran.load(), n);
    EXPECT_EQ(after.total_fibers - before.total_fibers, static_cast<std::uint64_t>(n));
    EXPECT_EQ(sum(after, &goro::proc_stats::spawned) - sum(before, &goro::proc_stats::spawned),
              static_cast<std::uint64_t>(n));
    // Every spawned fiber started once (a fiber that finished has started).
    EXPECT_GE(sum(after, &goro::proc_stats::started) - sum(before, &goro::proc_stats::started),
              static_cast<std::uint64_t>(n));
    EXPECT_GE(sum(after, &goro::proc_stats::switches) - sum(before, &goro::proc_stats::switches),
              static_cast<std::uint64_t>(n));
    EXPECT_GE(after.live_fibers, 1);
    EXPECT_GE(after.threads, 1);
  });
}

TEST_P(Stats, ParksAndWakeupsCountAChannelHandOff) {
  const int rounds = 500;
  goro::run(goro::options{.procs = GetParam()}, [&] {
    const goro::runtime_stats before = goro::stats();
    goro::chan<int> ping, pong;  // unbuffered: every exchange parks one side
    goro::go([&] {
      for (int i = 0; i < rounds; i++) pong.send(*ping.recv() + 1);
    });
    for (int i = 0; i < rounds; i++) {
      ping.send(i);
      EXPECT_EQ(*pong.recv(), i + 1);
    }
    const goro::runtime_stats after = goro::stats();
    // Each round parks at least one of the two (the first to arrive).
    EXPECT_GE(after.parks - before.parks, static_cast<std::uint64_t>(rounds));
    EXPECT_GE(after.wakeups - before.wakeups, static_cast<std::uint64_t>(rounds));
    EXPECT_EQ(after.parks, sum(after, &goro::proc_stats::parks));
  });
}

INSTANTIATE_TEST_SUITE_P(Procs, Stats, ::testing::Values(1, 2, 4), goro_test::procs_name);

class StatsOnce : public goro_test::LeakChecked<::testing::Test> {};

// Fibers parked on a channel are readied onto one P by the fiber that
// closes it, which then computes, without a runtime call, until they have
// all run: only another P can run them, by stealing, and both Ps' counters
// show it.
TEST_F(StatsOnce, AForcedStealShowsInBothPs) {
  for (int iter = 0; iter < 20; iter++) {
    goro::run(goro::options{.procs = 2}, [&] {
      const goro::runtime_stats before = goro::stats();
      std::atomic<int> ran{0};
      // All n must fit in this P's run queue: an overflow goes to the global
      // queue, where the idle P takes it without a steal.
      const int n = static_cast<int>(std::min<std::uint32_t>(8, goro::rt::runq_capacity));
      goro::chan<int> start;
      goro::wait_group parked;
      for (int i = 0; i < n; i++) {
        parked.add(1);
        goro::go([&] {
          parked.done();
          start.recv();
          ran.fetch_add(1, std::memory_order_relaxed);
        });
      }
      parked.wait();
      goro::go([&] {
        start.close();  // readies the n fibers onto this P
        const auto end = std::chrono::steady_clock::now() + 20s;
        while (ran.load(std::memory_order_relaxed) < n && std::chrono::steady_clock::now() < end) {
        }
      });
      ASSERT_TRUE(eventually([&] { return ran.load(std::memory_order_relaxed) == n; }));
      const goro::runtime_stats after = goro::stats();
      const std::uint64_t steals = sum(after, &goro::proc_stats::steals) - sum(before, &goro::proc_stats::steals);
      const std::uint64_t suffered =
          sum(after, &goro::proc_stats::steals_suffered) - sum(before, &goro::proc_stats::steals_suffered);
      EXPECT_GE(steals, 1u);
      EXPECT_EQ(steals, suffered);
      // A P never steals from itself: some thief and some victim differ.
      bool pair = false;
      for (std::size_t i = 0; i < after.p.size(); i++)
        for (std::size_t j = 0; j < after.p.size(); j++)
          pair = pair || (i != j && after.p[i].steals > before.p[i].steals &&
                          after.p[j].steals_suffered > before.p[j].steals_suffered);
      EXPECT_TRUE(pair);
    });
  }
}

TEST_F(StatsOnce, TimersAndGlobalFieldsAreReported) {
  goro::run(goro::options{.procs = 2}, [&] {
    goro::chan<int> stop;
    std::atomic<bool> armed{false};
    goro::go([stop, &armed] {  // stop by value: main returns while this fiber ends
      auto t = goro::after(1h);
      armed.store(true);
      goro::select(goro::on_recv(stop, [](std::optional<int>) {}), goro::on_recv(t, [](auto) {}));
    });
    ASSERT_TRUE(eventually([&] { return armed.load() && goro::stats().timers >= 1; }));
    const goro::runtime_stats s = goro::stats();
    EXPECT_EQ(s.live_fibers, 2);
    EXPECT_EQ(s.io_waiters, 0u);
    EXPECT_LE(s.idle_procs, 2);
    for (const auto& p : s.p) EXPECT_TRUE(p.status == "idle" || p.status == "running" || p.status == "syscall" || p.status == "taken") << p.status;
    stop.close();
  });
}

TEST(StatsOutside, StatsAndDumpNeedARuntime) {
  EXPECT_THROW(goro::stats(), std::logic_error);
  std::ostringstream out;
  EXPECT_THROW(goro::dump(out), std::logic_error);
}

// ---- dump -----------------------------------------------------------------

class Dump : public goro_test::LeakChecked<::testing::TestWithParam<int>> {};

TEST_P(Dump, ListsAFiberParkedOnAChannelWithItsCreationSite) {
  goro::run(goro::options{.procs = GetParam()}, [&] {
    goro::chan<int> ch;
    std::atomic<std::uint64_t> id{0};
    const int line = __LINE__ + 1;
    goro::go([&] {
      id.store(goro::this_fiber::id());
      ch.recv();
    });
    std::string text;
    ASSERT_TRUE(eventually([&] {
      std::ostringstream out;
      goro::dump(out);
      text = out.str();
      return id.load() != 0 && text.find("fiber " + std::to_string(id.load()) + " [chan receive") != std::string::npos;
    })) << text;
    EXPECT_NE(text.find("stats_test.cpp:" + std::to_string(line)), std::string::npos) << text;
    EXPECT_NE(text.find("waiting on channel"), std::string::npos) << text;
    // The main fiber is running (it prints the dump).
    EXPECT_NE(text.find("[running]"), std::string::npos) << text;
    // A second receiver queues behind the first: the dump says so.
    std::atomic<std::uint64_t> id2{0};
    goro::go([&] {
      id2.store(goro::this_fiber::id());
      ch.recv();
    });
    ASSERT_TRUE(eventually([&] {
      std::ostringstream out;
      goro::dump(out);
      text = out.str();
      return id2.load() != 0 && text.find("fiber " + std::to_string(id2.load()) + " [chan receive") != std::string::npos;
    })) << text;
    const std::size_t second = text.find("fiber " + std::to_string(id2.load()) + " [");
    const std::size_t next = text.find("\nfiber ", second + 1);
    const std::string entry = text.substr(second, next == std::string::npos ? std::string::npos : next - second);
    EXPECT_NE(entry.find("queued behind fiber " + std::to_string(id.load())), std::string::npos) << text;
    ch.send(1);
    ch.send(2);
  });
}

TEST_P(Dump, NamesTheFiberHoldingAMutexAnotherWaitsFor) {
  goro::run(goro::options{.procs = GetParam()}, [&] {
    goro::mutex mu;
    goro::chan<int> release;
    std::atomic<std::uint64_t> holder{0}, waiter{0};
    goro::wait_group wg;
    wg.add(2);
    goro::go([&] {
      mu.lock();
      holder.store(goro::this_fiber::id());
      release.recv();
      mu.unlock();
      wg.done();
    });
    ASSERT_TRUE(eventually([&] { return holder.load() != 0; }));
    goro::go([&] {
      waiter.store(goro::this_fiber::id());
      mu.lock();
      mu.unlock();
      wg.done();
    });
    std::string text;
    const std::string want_wait = "[mutex";
    ASSERT_TRUE(eventually([&] {
      std::ostringstream out;
      goro::dump(out);
      text = out.str();
      return waiter.load() != 0 && text.find("fiber " + std::to_string(waiter.load()) + " " + want_wait) != std::string::npos;
    })) << text;
    const std::string edge = "held by fiber " + std::to_string(holder.load());
    EXPECT_NE(text.find(edge), std::string::npos) << text;
    // The edge is on the waiter's entry, not the holder's.
    const std::size_t w = text.find("fiber " + std::to_string(waiter.load()) + " ");
    EXPECT_GT(text.find(edge, w), w) << text;
    release.send(1);
    wg.wait();
  });
}

INSTANTIATE_TEST_SUITE_P(Procs, Dump, ::testing::Values(1, 4), goro_test::procs_name);

// The deadlock report prints the same lines, wait-for edge included.
TEST_F(StatsOnce, TheDeadlockReportCarriesTheMutexEdge) {
  allow_kept_stacks();  // the deadlocked fibers' stacks are kept on purpose
  std::string report;
  std::atomic<std::uint64_t> holder{0};
  try {
    goro::run(goro::options{.procs = 2, .throw_on_deadlock = true}, [&] {
      goro::mutex mu;
      goro::chan<int> never;
      goro::go([&] {
        mu.lock();
        holder = goro::this_fiber::id();
        never.recv();
      });
      while (holder.load() == 0) goro::this_fiber::yield();
      mu.lock();  // blocks forever: a deadlock
    });
  } catch (const goro::deadlock_error& e) {
    report = e.what();
  }
  ASSERT_FALSE(report.empty());
  EXPECT_NE(report.find("held by fiber " + std::to_string(holder.load())), std::string::npos) << report;
}

// ---- SIGQUIT ----------------------------------------------------------------

// Reads fd until `want` appears or 20 s pass.
std::string read_until(int fd, const std::string& want) {
  std::string got;
  const auto end = std::chrono::steady_clock::now() + 20s;
  char buf[4096];
  while (got.find(want) == std::string::npos && std::chrono::steady_clock::now() < end) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

TEST(DumpSignal, SigquitPrintsEveryFiberAndTheProgramGoesOn) {
  if (const char* e = std::getenv("GORO_SIGQUIT"); e != nullptr && std::string(e) == "0") GTEST_SKIP();
  goro::run(goro::options{.procs = 1}, [] {});  // installs the handler, unless SIGQUIT was not at its default
  struct sigaction now{};
  ASSERT_EQ(::sigaction(SIGQUIT, nullptr, &now), 0);
  if (now.sa_handler == SIG_IGN || now.sa_handler == SIG_DFL)
    GTEST_SKIP() << "SIGQUIT was ignored or handled before goro's first runtime: goro leaves it alone";
  goro::run(goro::options{.procs = 2}, [&] {
    goro::chan<int> ch;
    std::atomic<std::uint64_t> id{0};
    goro::go([&] {
      id.store(goro::this_fiber::id());
      ch.recv();
    });
    const std::string want = "fiber " + std::to_string([&] {
      while (id.load() == 0) goro::this_fiber::yield();
      return id.load();
    }()) + " [";
    std::string got;
    goro::blocking([&] {
      // stderr into a pipe for the duration.
      int p[2];
      ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
      ::fflush(stderr);
      const int saved = ::dup(2);
      ::dup2(p[1], 2);
      ::raise(SIGQUIT);
      got = read_until(p[0], want + "chan receive");
      ::fflush(stderr);
      ::dup2(saved, 2);
      ::close(saved);
      ::close(p[0]);
      ::close(p[1]);
    });
    EXPECT_NE(got.find("goro: SIGQUIT"), std::string::npos) << got;
    EXPECT_NE(got.find(want + "chan receive"), std::string::npos) << got;
    EXPECT_NE(got.find("stats_test.cpp"), std::string::npos) << got;
    ch.send(1);
  });
}

// ---- GORO_SCHEDTRACE -------------------------------------------------------

TEST(Schedtrace, PrintsTheFieldsAtTheRequestedRate) {
  ::setenv("GORO_SCHEDTRACE", "20", 1);
  ::testing::internal::CaptureStderr();
  goro::run(goro::options{.procs = 2}, [&] {
    // Work for about 400 ms (the rate is what is tested: 20 lines expected).
    goro::this_fiber::sleep_for(400ms);
  });
  const std::string err = ::testing::internal::GetCapturedStderr();
  ::unsetenv("GORO_SCHEDTRACE");
  long n = 0;
  std::istringstream lines(err);
  for (std::string l; std::getline(lines, l);) {
    if (l.rfind("goro: sched ", 0) != 0) continue;
    long ms;
    int procs, idle, threads, spinning, idlethreads, global;
    unsigned q0, q1;
    const int got = std::sscanf(l.c_str(),
                                "goro: sched %ldms: procs=%d idleprocs=%d threads=%d spinningthreads=%d "
                                "idlethreads=%d runqueue=%d [%u %u]",
                                &ms, &procs, &idle, &threads, &spinning, &idlethreads, &global, &q0, &q1);
    EXPECT_EQ(got, 9) << l;
    EXPECT_EQ(procs, 2) << l;
    EXPECT_TRUE(idle >= 0 && idle <= 2) << l;
    EXPECT_GE(threads, 1) << l;
    n++;
  }
  // 400 ms at 20 ms: 20 lines; bounds wide enough for a loaded machine.
  EXPECT_GE(n, 5) << err;
  EXPECT_LE(n, 25) << err;
  EXPECT_EQ(err.find("  P0: status="), std::string::npos) << "detail lines without GORO_SCHEDTRACE_DETAIL";
}

TEST(Schedtrace, DetailAddsALinePerPMAndFiber) {
  ::setenv("GORO_SCHEDTRACE", "20", 1);
  ::setenv("GORO_SCHEDTRACE_DETAIL", "1", 1);
  ::testing::internal::CaptureStderr();
  goro::run(goro::options{.procs = 2}, [&] { goro::this_fiber::sleep_for(100ms); });
  const std::string err = ::testing::internal::GetCapturedStderr();
  ::unsetenv("GORO_SCHEDTRACE");
  ::unsetenv("GORO_SCHEDTRACE_DETAIL");
  EXPECT_NE(err.find("  P0: status="), std::string::npos) << err;
  EXPECT_NE(err.find("  P1: status="), std::string::npos) << err;
  EXPECT_NE(err.find("  M"), std::string::npos) << err;
  EXPECT_NE(err.find("[sleep"), std::string::npos) << err;  // the main fiber, asleep
}

// With schedtrace on, sysmon still re-checks a suspected deadlock (one
// seen while the process has a thread goro did not make) when the grace
// period ends: the deadlock is reported, not a hang.
TEST_F(StatsOnce, ASuspectedDeadlockIsReportedWithSchedtraceOn) {
  allow_kept_stacks();  // the deadlocked fiber's stack is kept on purpose
  ::setenv("GORO_SCHEDTRACE", "50", 1);
  ::testing::internal::CaptureStderr();
  std::promise<void> done;
  std::thread other([f = done.get_future()]() mutable { f.wait(); });  // unknown to goro
  bool reported = false;
  try {
    goro::run(goro::options{.procs = 2, .throw_on_deadlock = true}, [] {
      goro::chan<int> never;
      never.recv();
    });
  } catch (const goro::deadlock_error&) {
    reported = true;
  }
  done.set_value();
  other.join();
  const std::string err = ::testing::internal::GetCapturedStderr();
  ::unsetenv("GORO_SCHEDTRACE");
  EXPECT_TRUE(reported);
  EXPECT_NE(err.find("goro: sched"), std::string::npos) << err;
}

TEST(Schedtrace, AnInvalidValueIsReportedAndIgnored) {
  ::setenv("GORO_SCHEDTRACE", "often", 1);
  ::testing::internal::CaptureStderr();
  goro::run(goro::options{.procs = 1}, [] {});
  const std::string err = ::testing::internal::GetCapturedStderr();
  ::unsetenv("GORO_SCHEDTRACE");
  EXPECT_NE(err.find("goro: ignoring invalid GORO_SCHEDTRACE=often"), std::string::npos) << err;
  EXPECT_EQ(err.find("goro: sched"), std::string::npos) << err;
}

}  // namespace
