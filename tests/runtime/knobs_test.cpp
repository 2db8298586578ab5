// The scheduler knobs (goro::sched_knobs, GORO_SCHED): how they are read,
// and, for each knob, a run whose outcome it changes. Order and counts are
// observed, never durations: where a test waits for something that must not
// happen, the knob makes it impossible, not merely slow.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "debug/counters.hpp"
#include "runtime_fixture.hpp"
#include "sched/caller.hpp"
#include "sched/knobs.hpp"
#include "sched/m.hpp"
#include "sched/p.hpp"
#include "sched/park.hpp"
#include "sched/random.hpp"
#include "sched/runtime.hpp"

namespace {

using goro::rt::knob_set;

// Each test sets the knobs it depends on; GORO_SCHED in the environment (a
// run of the whole suite under one setting) must not change the others:
// cleared for the test, put back after it.
class SchedEnvCleared {
 public:
  SchedEnvCleared() {
    if (const char* v = std::getenv("GORO_SCHED")) saved_ = v;
    unsetenv("GORO_SCHED");
  }
  ~SchedEnvCleared() {
    if (saved_) setenv("GORO_SCHED", saved_->c_str(), 1);
  }
  SchedEnvCleared(const SchedEnvCleared&) = delete;
  SchedEnvCleared& operator=(const SchedEnvCleared&) = delete;

 private:
  std::optional<std::string> saved_;
};

class Knobs : public goro_test::FixedRuntimeTest {
  SchedEnvCleared env_;
};

// The knobs of the runtime the calling fiber runs in.
const knob_set& running_knobs() { return goro::rt::current_m()->rt->knobs; }

// Orders are checked with one P and no sysmon: nothing but the scheduler's
// own choices decides them. A GORO_RANDOMIZE_SCHED build makes some of
// those choices by coin (runtime/sched/random.hpp), so there only the
// order a knob switched off is checked: the coins only ever take the path
// the knob takes.
constexpr bool randomized = goro::rt::randomize_sched;
constexpr auto no_sysmon = std::chrono::microseconds(-1);

// ---------------------------------------------------------------------------
// Reading them: options::knobs, then GORO_SCHED where a field is at its
// default.

TEST_F(Knobs, EnvironmentSetsEveryKey) {
  knob_set k;
  const auto ignored = goro::rt::apply_sched_env(
      "runnext=0,steal=0,handoff=0,direct=0,spin=3,globalq=7,steal_amount=one,slice_us=1500", {}, k);
  EXPECT_TRUE(ignored.empty()) << ignored.front();
  EXPECT_FALSE(k.runnext);
  EXPECT_FALSE(k.steal);
  EXPECT_FALSE(k.spawn_handoff);
  EXPECT_FALSE(k.direct_switch);
  EXPECT_EQ(k.spinning_limit, 3);
  EXPECT_EQ(k.global_check, 7u);
  EXPECT_TRUE(k.steal_one);
  EXPECT_EQ(k.time_slice_ns, 1'500'000);
  // And back: the other value of each.
  const auto again = goro::rt::apply_sched_env("runnext=1,steal=1,handoff=1,direct=1,spin=-1,globalq=0,steal_amount=half", {}, k);
  EXPECT_TRUE(again.empty());
  EXPECT_TRUE(k.runnext && k.steal && k.spawn_handoff && k.direct_switch && !k.steal_one);
  EXPECT_EQ(k.spinning_limit, -1);
  EXPECT_EQ(k.global_check, 0u);
}

TEST_F(Knobs, EveryMalformedEntryIsReportedAndTheOthersApply) {
  knob_set k;
  const auto ignored = goro::rt::apply_sched_env(
      "steal=2,stael=0,runnext,globalq=-1,spin=-2,slice_us=0,steal_amount=all,direct=0,,handoff=yes,"
      "globalq=12x,slice_us=3600000001, spin=1",
      {}, k);
  const std::vector<std::string> want{
      "\"steal=2\": steal takes 0 or 1",
      "\"stael=0\": unknown key (the keys are runnext, steal, handoff, direct, spin, globalq, steal_amount, slice_us)",
      "\"runnext\": not key=value",
      "\"globalq=-1\": globalq takes a whole number >= 0",
      "\"spin=-2\": spin takes -1 (Go's rule), 0 (no spinning) or a positive limit",
      "\"slice_us=0\": slice_us takes microseconds from 1 to 3600000000 (an hour)",
      "\"steal_amount=all\": steal_amount takes half or one",
      "\"handoff=yes\": handoff takes 0 or 1",
      "\"globalq=12x\": globalq takes a whole number >= 0",
      "\"slice_us=3600000001\": slice_us takes microseconds from 1 to 3600000000 (an hour)",
      "\" spin=1\": unknown key (the keys are runnext, steal, handoff, direct, spin, globalq, steal_amount, slice_us)",
  };
  EXPECT_EQ(ignored, want);
  // The one good entry applied; every malformed one left its field alone.
  const knob_set def;
  EXPECT_FALSE(k.direct_switch);
  EXPECT_EQ(k.steal, def.steal);
  EXPECT_EQ(k.runnext, def.runnext);
  EXPECT_EQ(k.global_check, def.global_check);
  EXPECT_EQ(k.spinning_limit, def.spinning_limit);
  EXPECT_EQ(k.time_slice_ns, def.time_slice_ns);
  EXPECT_EQ(k.steal_one, def.steal_one);
  EXPECT_EQ(k.spawn_handoff, def.spawn_handoff);
}

TEST_F(Knobs, TheProgramsChoiceWinsOverTheEnvironment) {
  const goro::sched_knobs asked{.steal = false, .global_check = 5, .time_slice = std::chrono::microseconds(2000)};
  setenv("GORO_SCHED", "steal=1,globalq=9,slice_us=3000,runnext=0", 1);
  const knob_set k = goro::rt::resolve_knobs(asked);
  unsetenv("GORO_SCHED");
  EXPECT_FALSE(k.steal);
  EXPECT_EQ(k.global_check, 5u);
  EXPECT_EQ(k.time_slice_ns, 2'000'000);
  EXPECT_FALSE(k.runnext);  // left at its default by the program
}

// End to end: the runtime runs with what GORO_SCHED says, and a bad entry
// is reported on stderr, never dropped in silence.
TEST_F(Knobs, RunReadsTheEnvironmentAndReportsBadEntries) {
  setenv("GORO_SCHED", "steal=0,bogus=1,globalq=3", 1);
  testing::internal::CaptureStderr();
  knob_set seen;
  goro::run({.procs = 1}, [&] { seen = running_knobs(); });
  const std::string err = testing::internal::GetCapturedStderr();
  unsetenv("GORO_SCHED");
  EXPECT_FALSE(seen.steal);
  EXPECT_EQ(seen.global_check, 3u);
  EXPECT_NE(err.find("goro: ignoring invalid GORO_SCHED entry \"bogus=1\": unknown key"), std::string::npos) << err;
  // Without the variable: the defaults, which are today's scheduler.
  goro::run({.procs = 1}, [&] { seen = running_knobs(); });
  const knob_set def;
  EXPECT_TRUE(seen.runnext && seen.steal && seen.spawn_handoff && seen.direct_switch && !seen.steal_one);
  EXPECT_EQ(seen.spinning_limit, -1);
  EXPECT_EQ(seen.global_check, 61u);
  EXPECT_EQ(seen.time_slice_ns, 10'000'000);
  EXPECT_EQ(seen.time_slice_ns, def.time_slice_ns);
}

TEST_F(Knobs, OutOfRangeOptionsThrow) {
  auto run_with = [](goro::sched_knobs k) { goro::run({.procs = 1, .knobs = k}, [] {}); };
  EXPECT_THROW(run_with({.spinning_limit = -2}), std::invalid_argument);
  EXPECT_THROW(run_with({.global_check = -1}), std::invalid_argument);
  EXPECT_THROW(run_with({.time_slice = std::chrono::microseconds(0)}), std::invalid_argument);
  EXPECT_THROW(run_with({.time_slice = std::chrono::hours(2)}), std::invalid_argument);
  EXPECT_THROW(run_with({.amount = static_cast<goro::sched_knobs::steal_amount>(7)}), std::invalid_argument);
  EXPECT_NO_THROW(run_with({.spinning_limit = 0, .global_check = 0, .time_slice = std::chrono::hours(1)}));
}

// ---------------------------------------------------------------------------
// runnext: a fiber readied by the running fiber runs before those already
// on the P's ring; off, after them (FIFO).

// The order in which W, readied by main, and X1..X3, spawned by main
// before it, run. One P, no hand-off: go() queues X1..X3 (one in runnext
// when the knob is on, the others on the ring), and W is readied last.
std::vector<std::string> readied_order(bool runnext) {
  std::vector<std::string> log;
  goro::run({.procs = 1, .sysmon_tick = no_sysmon, .knobs = {.runnext = runnext, .spawn_handoff = false}}, [&] {
    goro::chan<int> c;
    goro::wait_group wg;
    wg.add(4);
    goro::go([&] {
      c.recv();
      log.push_back("W");
      wg.done();
    });
    goro::this_fiber::yield();  // W runs, and waits on c
    for (int i = 1; i <= 3; i++)
      goro::go([&, i] {
        log.push_back("X" + std::to_string(i));
        wg.done();
      });
    c.send(1);  // readies W; main goes on (its receiver was waiting)
    wg.wait();
  });
  return log;
}

TEST_F(Knobs, RunnextOffQueuesAReadiedFiberBehindTheRing) {
  using v = std::vector<std::string>;
  EXPECT_EQ(readied_order(false), (v{"X1", "X2", "X3", "W"}));
  if (!randomized) {
    EXPECT_EQ(readied_order(true), (v{"W", "X1", "X2", "X3"}));
  }
}

// With runnext off, a fiber that pick_direct took but cannot switch to
// (locked to another M, or short of stack) still goes back in front, for
// g0 to pick first: at the ring's tail it would come back to pick_direct at
// each turn and never reach g0, and a locked fiber would never be handed
// to its M while others yield.
TEST_F(Knobs, RunnextOffStillHandsALockedFiberOver) {
  constexpr int rounds = 50;
  const long cap = goro_test::scaled(10'000'000);
  std::atomic<bool> locked_done{false};
  std::atomic<int> busy_ended{0};
  bool busy_while_locked = false;
  goro::run({.procs = 1, .sysmon_tick = no_sysmon, .knobs = {.runnext = false}}, [&] {
    goro::wait_group wg;
    wg.add(3);
    for (int b = 0; b < 2; b++)
      goro::go([&] {
        for (long i = 0; i < cap && !locked_done.load(); i++) goro::this_fiber::yield();
        busy_ended.fetch_add(1);
        wg.done();
      });
    goro::go([&] {
      goro::this_fiber::lock_os_thread();
      for (int i = 0; i < rounds; i++) goro::this_fiber::yield();
      goro::this_fiber::unlock_os_thread();
      busy_while_locked = busy_ended.load() == 0;
      locked_done.store(true);
      wg.done();
    });
    wg.wait();
  });
  EXPECT_TRUE(busy_while_locked) << "the locked fiber ran only once the others had stopped yielding";
}

// ---------------------------------------------------------------------------
// spawn_handoff: go() on a P with a fiber queued hands the P to the new
// fiber, and the spawner waits; off, the spawner goes on.

std::vector<std::string> spawn_order(goro::sched_knobs knobs) {
  std::vector<std::string> log;
  goro::run({.procs = 1, .sysmon_tick = no_sysmon, .knobs = knobs}, [&] {
    goro::go([&] { log.push_back("first"); });   // nothing queued: runnext, and main goes on
    goro::go([&] { log.push_back("second"); });  // "first" is queued: a backlog
    log.push_back("main");
  });
  return log;
}

TEST_F(Knobs, SpawnHandoffOffLetsTheSpawnerGoOn) {
  using v = std::vector<std::string>;
  const v off = spawn_order({.spawn_handoff = false});
  ASSERT_EQ(off.size(), 3u);
  EXPECT_EQ(off.front(), "main");  // the spawner went on
  if (!randomized) {  // (a coin may also put "second" behind "first")
    EXPECT_EQ(off, (v{"main", "second", "first"}));
    EXPECT_EQ(spawn_order({}), (v{"second", "first", "main"}));
  }
}

// ---------------------------------------------------------------------------
// steal: an M out of work takes fibers from other Ps' local queues. Off, a
// fiber queued on a P whose fiber computes (no runtime call) waits for that
// fiber to yield, however long another M looks for work meanwhile.

// Whether Q, queued on main's P while main computes without a runtime
// call, ran before main yielded. All along another M looks for work: R
// sleeps in a loop on it, and after each sleep that M, with nothing of its
// own to run, goes through find_runnable (and steals, if it may). No
// sysmon: it would take main's P after a time slice.
bool ran_while_owner_computes(int procs, bool steal) {
  constexpr int sleeps = 20;
  std::atomic<bool> ran{false};
  std::atomic<int> slept{0};
  bool before = false;
  goro::run({.procs = procs, .sysmon_tick = no_sysmon, .knobs = {.steal = steal}}, [&] {
    // Spawned inside goro::blocking, R goes to the global queue and wakes
    // another M (the global queue serves every P, stealing or not).
    goro::blocking([&] {
      goro::go([&] {
        for (int i = 0; i < sleeps; i++) {
          goro::this_fiber::sleep_for(std::chrono::microseconds(200));
          slept.fetch_add(1);
        }
      });
    });
    goro::go([&] { ran.store(true); });  // Q, in our P's runnext
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!ran.load() && slept.load() < sleeps && std::chrono::steady_clock::now() < give_up) {
    }
    before = ran.load();
    goro::this_fiber::yield();  // Q runs now, if it has not
    EXPECT_TRUE(ran.load());
  });
  EXPECT_EQ(slept.load(), sleeps);
  return before;
}

class StealKnob : public goro_test::RuntimeTest {
  SchedEnvCleared env_;
};

TEST_P(StealKnob, OffLeavesAFiberToItsBusyOwner) {
  for (int i = 0; i < 5; i++) {
    EXPECT_FALSE(ran_while_owner_computes(procs(), false)) << "round " << i;
    EXPECT_TRUE(ran_while_owner_computes(procs(), true)) << "round " << i;
  }
}
INSTANTIATE_TEST_SUITE_P(Procs, StealKnob, ::testing::Values(2, 4), ::goro_test::procs_name);

// ---------------------------------------------------------------------------
// steal_amount: a thief takes half a victim's ring (rounded up), or one.

// What the first fiber stolen from main's P sees on its thief's ring: the
// rest of the batch. Main's P holds r fibers on its ring (and one in
// runnext) while B keeps the other P busy; then B returns, and that P's M,
// out of work, steals from main's P, whose fiber computes. No sysmon (it
// would hand main's P to another M), no hand-off (the fibers are queued,
// not run, as main spawns them).
struct first_steal {
  std::uint32_t ring = 0;       // main's ring when B let go
  std::uint32_t batch_rest = 0;  // what the first stolen fiber found queued beside it
  bool only_ones = true;        // every stolen fiber found its thief's ring empty
};

first_steal observe_first_steal(goro::sched_knobs::steal_amount amount) {
  const int queued = 1 + static_cast<int>(std::min<std::uint32_t>(8, goro::rt::runq_capacity));
  first_steal r;
  std::atomic<bool> b_started{false}, b_go{false}, seen_first{false};
  std::atomic<int> done{0};
  goro::run({.procs = 2, .sysmon_tick = no_sysmon, .knobs = {.spawn_handoff = false, .amount = amount}}, [&] {
    goro::rt::P* mine = goro::rt::current_m()->p;
    goro::blocking([&] {  // B goes to the global queue and another M runs it
      goro::go([&] {
        b_started.store(true);
        while (!b_go.load()) {
        }
      });
    });
    while (!b_started.load()) {
    }
    for (int i = 0; i < queued; i++)
      goro::go([&, mine] {
        goro::rt::P* p = goro::rt::current_m()->p;
        if (p != mine) {
          const std::uint32_t rest = p->runq.size();
          if (!seen_first.exchange(true)) r.batch_rest = rest;
          if (rest != 0) r.only_ones = false;
        }
        done.fetch_add(1);
      });
    r.ring = mine->runq.ring_size();
    b_go.store(true);
    // Compute until every fiber ran (all on the thief: we make no runtime call).
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (done.load() < queued && std::chrono::steady_clock::now() < give_up) {
    }
    EXPECT_EQ(done.load(), queued);
  });
  return r;
}

TEST_F(Knobs, StealAmountOneTakesOneFiberHalfTakesHalf) {
  using steal_amount = goro::sched_knobs::steal_amount;
  for (int i = 0; i < 5; i++) {
    const first_steal half = observe_first_steal(steal_amount::half);
    ASSERT_GE(half.ring, 4u);
    EXPECT_EQ(half.batch_rest, half.ring - half.ring / 2 - 1) << "ring " << half.ring;
    EXPECT_FALSE(half.only_ones);
    const first_steal one = observe_first_steal(steal_amount::one);
    EXPECT_EQ(one.batch_rest, 0u);
    EXPECT_TRUE(one.only_ones);
  }
}

// ---------------------------------------------------------------------------
// global_check: every Nth pick of a P's next fiber looks at the global
// queue first (61 by default); 0: only once the local queues are empty.

struct global_wait {
  int picks = 0;      // picks made from the ring until the global fiber ran, its own included
  bool last = false;  // it ran after every other fiber had finished
};

// One P, no sysmon: main and Y yield in turn, each yield one pick from the
// ring (none inherits a time slice), counted. After `lead` yields, W is readied onto the global queue by
// a thread while main sits in goro::blocking (with its P: nothing else runs
// meanwhile), and we count the picks until W runs.
global_wait wait_on_global_queue(int every, int lead) {
  constexpr int yields = 150;
  std::atomic<int> picks{0};
  int queued_at = -1, ran_at = -1;
  // Outside main's frame: W and Y may run on after main returns.
  goro::semaphore sem;
  std::atomic<bool> stop{false};
  goro::run({.procs = 1, .sysmon_tick = no_sysmon, .knobs = {.global_check = every}}, [&] {
    goro::go([&] {
      sem.acquire();
      ran_at = picks.load();
    });
    goro::this_fiber::yield();  // W runs, and waits on sem
    goro::go([&] {
      while (!stop.load()) {
        picks.fetch_add(1);
        goro::this_fiber::yield();
      }
    });
    // Y starts from runnext (a pick that inherits the slice, which the
    // knob does not count); from here on every pick is from the ring.
    goro::this_fiber::yield();
    for (int i = 0; i < yields; i++) {
      if (i == lead) {
        goro::blocking([&] { std::thread([&] { sem.release(); }).join(); });
        queued_at = picks.load();
      }
      picks.fetch_add(1);
      goro::this_fiber::yield();
    }
    stop.store(true);
  });
  return {ran_at - queued_at, ran_at == picks.load()};
}

TEST_F(Knobs, GlobalCheckSetsHowManyPicksTheGlobalQueueWaits) {
  // W is queued at a different point of the picks' cycle for each lead: it
  // waits from 1 to N picks, and N at worst.
  int least = 1000, most = 0;
  for (int lead = 0; lead < 12; lead++) {
    EXPECT_EQ(wait_on_global_queue(1, lead).picks, 1) << "lead " << lead;
    const int every5 = wait_on_global_queue(5, lead).picks;
    least = std::min(least, every5);
    most = std::max(most, every5);
    EXPECT_LE(wait_on_global_queue(61, lead).picks, 61) << "lead " << lead;
    // 0: only when nothing else is left to run.
    EXPECT_TRUE(wait_on_global_queue(0, lead).last) << "lead " << lead;
  }
  EXPECT_EQ(least, 1);
  EXPECT_EQ(most, 5);
}

// ---------------------------------------------------------------------------
// time_slice: after a slice, sysmon takes the P of a fiber that computes
// while another waits for it, and a streak of fibers handing the P to each
// other through runnext lets the queued fibers run. The slices below are 1
// or 2 ms and an hour: with an hour, what must not happen is impossible for
// the whole observation (200 ms, beyond the default 10 ms slice), not
// merely unlikely; with 1 or 2 ms, what must happen is waited for up to
// 30 s, so that only a broken knob fails.

constexpr auto an_hour = std::chrono::microseconds(std::chrono::hours(1));
constexpr auto window = std::chrono::milliseconds(200);
constexpr auto patience = std::chrono::seconds(30);

std::int64_t busy_retakes() { return goro::rt::counters::retakes_busy.load(std::memory_order_relaxed); }

// One P: main computes without a runtime call while Q waits on its P. True
// if Q ran (on the M sysmon handed the P to) within `limit`.
bool hog_loses_its_p(std::chrono::microseconds slice, std::chrono::milliseconds limit) {
  std::atomic<bool> ran{false};
  bool before = false;
  goro::run({.procs = 1, .knobs = {.time_slice = slice}}, [&] {
    goro::go([&] { ran.store(true); });
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!ran.load() && std::chrono::steady_clock::now() < until) {
    }
    before = ran.load();
    goro::this_fiber::yield();
  });
  EXPECT_TRUE(ran.load());
  return before;
}

TEST_F(Knobs, TimeSliceIsWhenSysmonTakesTheP) {
  const std::int64_t retakes = busy_retakes();
  EXPECT_TRUE(hog_loses_its_p(std::chrono::milliseconds(2), patience));
  EXPECT_GT(busy_retakes(), retakes);
  EXPECT_FALSE(hog_loses_its_p(an_hour, window));
}

// One P, no sysmon (only the streak expires), no hand-off: main and A
// ping-pong through runnext while W waits on the ring. True if W ran within
// `limit` while the ping-pong went on.
bool streak_yields_to_ring(std::chrono::microseconds slice, std::chrono::milliseconds limit) {
  std::atomic<bool> ran{false};
  bool before = false;
  goro::run({.procs = 1, .sysmon_tick = no_sysmon, .knobs = {.spawn_handoff = false, .time_slice = slice}}, [&] {
    goro::go([&] { ran.store(true); });  // W: runnext, then the ring once A is spawned
    goro::chan<int> a, b;
    goro::go([a, b]() mutable {  // its own handles: it may outlive main's frame
      while (a.recv()) b.send(1);
    });
    const auto until = std::chrono::steady_clock::now() + limit;
    for (int round = 1; !ran.load(); round++) {
      a.send(1);
      b.recv();
      if (round % 256 == 0 && std::chrono::steady_clock::now() >= until) break;
    }
    before = ran.load();
    a.close();
  });
  EXPECT_TRUE(ran.load());
  return before;
}

TEST_F(Knobs, TimeSliceIsWhenARunnextStreakLetsTheRingRun) {
  EXPECT_TRUE(streak_yields_to_ring(std::chrono::milliseconds(1), patience));
  if (!randomized) {  // coins send readied fibers to the ring, where W's turn comes anyway
    EXPECT_FALSE(streak_yields_to_ring(an_hour, window));
  }
}

// ---------------------------------------------------------------------------
// spinning_limit: how many Ms may spin (hold a P and look for work to steal)
// at once. runtime::nmspinning_peak keeps the most that ever did.

// Waves of short fibers, so that Ms keep running out of work together, and
// a ping-pong across Ps; returns the runtime's spinning peak.
int spinning_peak(int procs, int limit) {
  int peak = -1;
  goro::run({.procs = procs, .knobs = {.spinning_limit = limit}}, [&] {
    std::atomic<long> sum{0};
    const int waves = static_cast<int>(goro_test::scaled(100, 5));
    for (int w = 0; w < waves; w++) {
      goro::wait_group wg;
      wg.add(64);
      for (int i = 0; i < 64; i++)
        goro::go([&, i] {
          unsigned long x = i;  // unsigned: the hash wraps by design
          for (int k = 0; k < 2000; k++) x = x * 31 + k;  // a few microseconds
          sum.fetch_add(static_cast<long>(x & 1));
          wg.done();
        });
      wg.wait();
    }
    goro::chan<int> ping, pong;
    goro::go([ping, pong]() mutable {  // its own handles: it may outlive main's frame
      while (auto v = ping.recv()) pong.send(*v + 1);
    });
    int x = 0;
    for (int i = 0; i < 1000; i++) {
      ping.send(x);
      x = *pong.recv();
    }
    ping.close();
    EXPECT_EQ(x, 1000);
    peak = goro::rt::current_m()->rt->nmspinning_peak.load();
  });
  return peak;
}

TEST_F(Knobs, SpinningLimitBoundsTheSpinningMs) {
  for (int procs : {2, 4, 8}) {
    EXPECT_EQ(spinning_peak(procs, 0), 0) << "procs " << procs;  // no M ever spins
    EXPECT_LE(spinning_peak(procs, 1), 1) << "procs " << procs;
    // Go's rule: the first go() wakes a spinner (an idle P, none spinning).
    const int go_rule = spinning_peak(procs, -1);
    EXPECT_GE(go_rule, 1) << "procs " << procs;
    EXPECT_LE(go_rule, procs) << "procs " << procs;
  }
}

// ---------------------------------------------------------------------------
// direct_switch: a fiber that parks switches straight to the next fiber of
// its P, and the park's unlock runs on that fiber's stack (finish_direct);
// off, every switch goes through g0, where the unlock runs.

// Where the unlock of a park ran: on g0, or on top of the next fiber.
std::string unlock_ran_as(goro::sched_knobs knobs) {
  goro::rt::caller_kind kind = goro::rt::caller_kind::thread;
  goro::run({.procs = 1, .sysmon_tick = no_sysmon, .knobs = knobs}, [&] {
    goro::rt::G* self = goro::rt::current_m()->curg;
    // Queued on our P, so that the park has a fiber to switch to.
    goro::go([self] { goro::rt::ready(self); });
    goro::rt::park(
        goro::detail::wait_reason::semaphore,
        [](void* k) { *static_cast<goro::rt::caller_kind*>(k) = goro::rt::classify().kind; }, &kind);
  });
  switch (kind) {
    case goro::rt::caller_kind::g0: return "g0";
    case goro::rt::caller_kind::fiber: return "the next fiber";
    default: return "elsewhere";
  }
}

TEST_F(Knobs, DirectSwitchOffSwitchesThroughG0) {
  EXPECT_EQ(unlock_ran_as({.direct_switch = false}), "g0");
  EXPECT_EQ(unlock_ran_as({}), "the next fiber");
  // The spawn hand-off goes through g0 too, and still runs the new fiber
  // at once.
  if (!randomized) {
    using v = std::vector<std::string>;
    EXPECT_EQ(spawn_order({.direct_switch = false}), (v{"second", "first", "main"}));
  }
}

// Everything still works through g0 alone: fork-join with hand-offs,
// channel ping-pong, yields and a contended mutex, at every procs.
class DirectOff : public goro_test::RuntimeTest {
  SchedEnvCleared env_;
};

int fib(int k) {
  if (k < 2) return k;
  goro::chan<int> c(1);
  goro::go([c, k]() mutable { c.send(fib(k - 1)); });  // its own handle: c's frame may be gone
  const int b = fib(k - 2);
  return *c.recv() + b;
}

TEST_P(DirectOff, EverythingStillWorks) {
  const int rounds = static_cast<int>(goro_test::scaled(10'000));
  goro::run({.procs = procs(), .knobs = {.direct_switch = false}}, [&] {
    EXPECT_EQ(fib(15), 610);
    goro::chan<int> ping, pong;
    goro::go([ping, pong]() mutable {  // its own handles: it may outlive main's frame
      while (auto v = ping.recv()) pong.send(*v + 1);
    });
    int x = 0;
    for (int i = 0; i < rounds; i++) {
      ping.send(x);
      x = *pong.recv();
    }
    ping.close();
    EXPECT_EQ(x, rounds);
    goro::mutex mu;
    long counter = 0;
    goro::wait_group wg;
    wg.add(50);
    for (int f = 0; f < 50; f++)
      goro::go([&] {
        for (int i = 0; i < 200; i++) {
          std::lock_guard<goro::mutex> l(mu);
          counter++;
          goro::this_fiber::yield();
        }
        wg.done();
      });
    wg.wait();
    EXPECT_EQ(counter, 50 * 200);
  });
}
GORO_INSTANTIATE_PROCS(DirectOff);

}  // namespace
