// The execution trace: goro::trace and GORO_TRACE. Each trace is checked by
// tests/trace/check_trace.py (JSON, lanes, no overlapping slices, flow
// arrows joining slices, expected fibers and event kinds).
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "runtime_fixture.hpp"
#include "trace/trace.hpp"

namespace {

using namespace std::chrono_literals;

std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/goro-trace-" + std::to_string(::getpid()) + "-" + name;
}

// Runs the checker; its output goes to the test's log.
int check(const std::string& trace, const std::string& extra) {
  const std::string cmd = "python3 " GORO_SOURCE_DIR "/tests/trace/check_trace.py '" + trace + "' " + extra;
  std::fflush(stdout);
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Trace : public goro_test::LeakChecked<::testing::TestWithParam<int>> {};

// A fork-join tree with channel hand-offs: every fiber appears, with its
// creation site, spawn and wake arrows, parks with reasons.
TEST_P(Trace, EveryFiberOfASmallWorkloadHasARunAndArrowsJoinSlices) {
  const std::string path = temp_path("forkjoin.json");
  std::vector<std::uint64_t> ids;
  std::mutex mu;
  goro::run(goro::options{.procs = GetParam()}, [&] {
    goro::trace::start(path);
    goro::chan<int> results;
    goro::wait_group wg;
    const int n = 200;
    for (int i = 0; i < n; i++) {
      wg.add(1);
      goro::go([&, i] {  // TRACE-SITE
        {
          std::lock_guard<std::mutex> l(mu);
          ids.push_back(goro::this_fiber::id());
        }
        results.send(i);
        wg.done();
      });
    }
    long sum = 0;
    for (int i = 0; i < n; i++) sum += *results.recv();
    wg.wait();
    EXPECT_EQ(sum, n * (n - 1) / 2);
    ASSERT_TRUE(goro::trace::stop());
  });
  const std::string fibers = temp_path("forkjoin.ids");
  {
    std::ofstream out(fibers);
    for (auto id : ids) out << id << "\n";
  }
  // The site: this file, at the go() call marked TRACE-SITE.
  int line = 0;
  {
    std::ifstream src(GORO_SOURCE_DIR "/tests/trace/trace_test.cpp");
    std::string l;
    for (int k = 1; std::getline(src, l); k++)
      if (l.find("// TRACE-" "SITE") != std::string::npos) line = k;
  }
  ASSERT_GT(line, 0);
  EXPECT_EQ(check(path, "--fibers '" + fibers + "' --spawned --site 'trace_test.cpp:" + std::to_string(line) +
                            "' --need spawn wake park from:spawn from:wake"),
            0);
  std::remove(path.c_str());
  std::remove(fibers.c_str());
}

TEST_P(Trace, BlockingCallsTimersAndCountersAppear) {
  const std::string path = temp_path("blocking.json");
  goro::run(goro::options{.procs = GetParam()}, [&] {
    goro::trace::start(path);
    goro::wait_group wg;
    wg.add(2);
    goro::go([&] {
      goro::blocking([] { ::usleep(3000); });
      wg.done();
    });
    goro::go([&] {
      goro::this_fiber::sleep_for(3ms);  // woken by a timer
      wg.done();
    });
    wg.wait();
    // sysmon samples the counters at most every millisecond, on its own
    // rounds, whose sleep grows to 10 ms when nothing needs it: keep a fiber
    // running for several of its longest sleeps (3 ms lost the race in CI).
    const auto end = std::chrono::steady_clock::now() + 50ms;
    while (std::chrono::steady_clock::now() < end) goro::this_fiber::yield();
    ASSERT_TRUE(goro::trace::stop());
  });
  EXPECT_EQ(check(path, "--need cat:blocking blocking timer from:timer from:blocking counter:fibers counter:threads"),
            0);
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Procs, Trace, ::testing::Values(1, 2, 4), goro_test::procs_name);

class TraceOnce : public goro_test::LeakChecked<::testing::Test> {};

TEST_F(TraceOnce, MisuseIsReported) {
  EXPECT_FALSE(goro::trace::stop());
  EXPECT_FALSE(goro::trace::flush());
  EXPECT_FALSE(goro::trace::active());
  EXPECT_THROW(goro::trace::start("/nonexistent-dir/x/trace.json"), std::system_error);
  EXPECT_FALSE(goro::trace::active());
  const std::string path = temp_path("twice.json");
  goro::trace::start(path);
  EXPECT_TRUE(goro::trace::active());
  EXPECT_THROW(goro::trace::start(path), std::logic_error);
  // Started outside a runtime: records the next one.
  goro::run(goro::options{.procs = 2}, [] {
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] { wg.done(); });
    wg.wait();
  });
  EXPECT_TRUE(goro::trace::stop());
  EXPECT_FALSE(goro::trace::active());
  EXPECT_EQ(check(path, "--need from:spawn"), 0);
  std::remove(path.c_str());
}

// Buffers stay with their thread across traces of one runtime and go to
// other threads once their runtime has ended: every trace is whole.
TEST_F(TraceOnce, TracesOneAfterAnotherInOneRunAndAcrossRuns) {
  std::vector<std::string> paths;
  auto work = [] {
    goro::wait_group wg;
    for (int i = 0; i < 50; i++) {
      wg.add(1);
      goro::go([&] {
        goro::this_fiber::yield();
        wg.done();
      });
    }
    wg.wait();
  };
  for (int run = 0; run < 3; run++) {
    goro::run(goro::options{.procs = 2}, [&] {
      for (int t = 0; t < 3; t++) {
        paths.push_back(temp_path("seq-" + std::to_string(run) + "-" + std::to_string(t) + ".json"));
        goro::trace::start(paths.back(), {.flight_recorder_mb = t == 1 ? 2u : 0u});
        work();
        ASSERT_TRUE(goro::trace::stop());
      }
    });
  }
  for (const auto& p : paths) {
    EXPECT_EQ(check(p, "--need from:spawn from:yield"), 0) << p;
    std::remove(p.c_str());
  }
}

TEST_F(TraceOnce, GoroTraceRecordsARunFromStartToEnd) {
  const std::string path = temp_path("env.json");
  ::setenv("GORO_TRACE", path.c_str(), 1);
  goro::run(goro::options{.procs = 2}, [] {
    goro::chan<int> c;
    goro::go([&] { c.send(1); });
    EXPECT_EQ(*c.recv(), 1);
  });
  ::unsetenv("GORO_TRACE");
  EXPECT_FALSE(goro::trace::active());  // written and ended with the run
  EXPECT_EQ(check(path, "--need spawn from:spawn"), 0);
  EXPECT_NE(slurp(path).find("\"mode\":\"full\""), std::string::npos);
  std::remove(path.c_str());
}

// A run's worth of work far larger than the recorder's window: memory
// stays bounded (the chunks are mapped once), the file holds only the
// newest events and says how many were dropped.
TEST_F(TraceOnce, FlightRecorderKeepsMemoryBoundedOverTenSeconds) {
  const std::string path = temp_path("flight.json");
  const auto length = goro_test::sanitized ? 2s : 10s;
  std::size_t chunks_after_first_second = 0, buffers_after_first_second = 0;
  goro::run(goro::options{.procs = 2}, [&] {
    goro::trace::start(path, {.flight_recorder_mb = 2});
    const auto start = std::chrono::steady_clock::now();
    bool sampled = false;
    while (std::chrono::steady_clock::now() - start < length) {
      goro::wait_group wg;
      for (int i = 0; i < 100; i++) {
        wg.add(1);
        goro::go([&] {
          goro::this_fiber::yield();
          wg.done();
        });
      }
      wg.wait();
      if (!sampled && std::chrono::steady_clock::now() - start > 1s) {
        sampled = true;
        chunks_after_first_second = goro::rt::trace::chunks_mapped();
        buffers_after_first_second = goro::rt::trace::buffers_created();
      }
    }
    // The rings filled long ago and were mapped once: only an owner that
    // started recording since then (an M the runtime started late, e.g. on
    // a slow machine) may have brought a ring of its own, one 1 MiB chunk
    // here (2 MiB over 2 Ps).
    const std::size_t new_owners = goro::rt::trace::buffers_created() - buffers_after_first_second;
    EXPECT_LE(goro::rt::trace::chunks_mapped(), chunks_after_first_second + new_owners);
    // 2 MiB over 2 Ps: one 1 MiB chunk per buffer, a handful of buffers.
    EXPECT_LE(goro::rt::trace::chunks_mapped(), 16u);
    ASSERT_TRUE(goro::trace::flush());
    EXPECT_TRUE(goro::trace::active());  // flush goes on recording
    ASSERT_TRUE(goro::trace::stop());
  });
  const std::string text = slurp(path);
  EXPECT_NE(text.find("\"mode\":\"flight\""), std::string::npos);
  EXPECT_EQ(text.find("\"dropped\":0}"), std::string::npos) << "the ring never wrapped";
  EXPECT_EQ(check(path, "--need from:spawn"), 0);
  std::remove(path.c_str());
}

}  // namespace
