// goro::fiber_local: one value per fiber, value-initialised on first use,
// kept across switches and threads, destroyed on the fiber when it ends.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <goro/goro.hpp>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using FiberLocal = goro_test::RuntimeTest;
GORO_INSTANTIATE_PROCS(FiberLocal);
using FiberLocalFixed = goro_test::FixedRuntimeTest;

// Every fiber sees its own value, at the same address, across yields and
// channel operations that move it between threads.
TEST_P(FiberLocal, EachFiberKeepsItsOwnValueAcrossSwitches) {
  const int fibers = 64;
  const int rounds = static_cast<int>(goro_test::scaled(300));
  std::atomic<int> wrong{0}, moved{0};
  goro::run(opts(), [&] {
    goro::fiber_local<std::uint64_t> mine;
    goro::fiber_local<std::string> name;
    goro::chan<int> ping(4);
    goro::wait_group wg;
    for (int i = 0; i < fibers; i++) {
      wg.add(1);
      goro::go([&, i] {
        std::uint64_t* addr = &mine.get();
        if (*addr != 0 || !name.get().empty()) wrong++;  // value-initialised
        *addr = goro::this_fiber::id();
        name.get() = "fiber " + std::to_string(i);
        const std::thread::id first = goro_test::thread_id();
        bool left = false;
        for (int r = 0; r < rounds; r++) {
          if (r % 2) {
            goro::this_fiber::yield();
          } else {
            ping.send(r);
            ping.recv();
          }
          if (&mine.get() != addr || mine.get() != goro::this_fiber::id() || name.get() != "fiber " + std::to_string(i))
            wrong++;
          left = left || goro_test::thread_id() != first;
        }
        if (left) moved++;
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(wrong.load(), 0);
  if (procs() > 1) RecordProperty("fibers_that_moved", moved.load());
}

struct counted {
  static inline std::atomic<int> made{0}, destroyed{0};
  int v = 0;
  counted() { made++; }
  ~counted() { destroyed++; }
};

// Values are destroyed when their fiber ends, once each; a reused G (and
// its stack) starts again from a value-initialised T.
TEST_P(FiberLocal, ValuesAreDestroyedWhenTheFiberEnds) {
  counted::made = 0;
  counted::destroyed = 0;
  const int fibers = static_cast<int>(goro_test::scaled(2000));
  std::atomic<int> not_fresh{0};
  goro::run(opts(), [&] {
    goro::fiber_local<counted> c;
    for (int round = 0; round < 4; round++) {
      goro::wait_group wg;
      for (int i = 0; i < fibers / 4; i++) {
        wg.add(1);
        goro::go([&] {
          if (c.get().v != 0) not_fresh++;
          c.get().v = 42;
          goro::this_fiber::yield();
          wg.done();
        });
      }
      wg.wait();
    }
    c.get().v = 1;  // the main fiber's own, destroyed when main returns
  });
  EXPECT_EQ(not_fresh.load(), 0);
  EXPECT_EQ(counted::made.load(), fibers / 4 * 4 + 1);
  EXPECT_EQ(counted::destroyed.load(), counted::made.load());
}

// A destructor runs on its fiber and may use goro: here it sends on an
// unbuffered channel (parking until main receives) and creates a value of
// another fiber_local, which a later pass destroys.
struct reporter {
  static inline goro::chan<int>* out = nullptr;
  static inline goro::fiber_local<counted>* other = nullptr;
  int id = 0;
  ~reporter() {
    if (id == 0) return;
    other->get().v = id;
    out->send(id);
  }
};

TEST_P(FiberLocal, DestructorsMayUseGoro) {
  counted::made = 0;
  counted::destroyed = 0;
  const int fibers = 200;
  long sum = 0;
  goro::run(opts(), [&] {
    goro::chan<int> out;
    goro::fiber_local<counted> other;
    goro::fiber_local<reporter> rep;
    reporter::out = &out;
    reporter::other = &other;
    for (int i = 1; i <= fibers; i++) goro::go([&, i] { rep.get().id = i; });
    for (int i = 0; i < fibers; i++) sum += *out.recv();
  });
  EXPECT_EQ(sum, long(fibers) * (fibers + 1) / 2);
  EXPECT_EQ(counted::made.load(), fibers);
  EXPECT_EQ(counted::destroyed.load(), fibers);
}

// A fiber_local destroyed while fibers hold values: those values live on
// until their fiber ends; a new fiber_local that reuses the id never sees
// them (it starts from T()), and each stale value is destroyed exactly once.
TEST_P(FiberLocal, DestroyedFiberLocalNeverLeaksIntoANewOne) {
  counted::made = 0;
  counted::destroyed = 0;
  std::atomic<int> stale_seen{0};
  const int fibers = 50;
  goro::run(opts(), [&] {
    goro::chan<int> step;
    goro::wait_group held, done;
    auto first = std::make_unique<goro::fiber_local<counted>>();
    for (int i = 0; i < fibers; i++) {
      held.add(1);
      done.add(1);
      goro::go([&] {
        first->get().v = 7;
        held.done();
        step.recv();  // first is destroyed meanwhile
        for (int k = 0; k < 3; k++) {
          goro::fiber_local<counted> again;  // likely reuses first's id
          if (again.get().v != 0) stale_seen++;
          again.get().v = 9;
        }
        done.done();
      });
    }
    held.wait();
    first.reset();
    for (int i = 0; i < fibers; i++) step.send(0);
    done.wait();
  });
  EXPECT_EQ(stale_seen.load(), 0);
  EXPECT_EQ(counted::destroyed.load(), counted::made.load());
}

// A fiber left blocked when main returns is unwound; its values are then
// destroyed like those of any fiber that ends.
TEST_P(FiberLocal, LeftoverFibersValuesAreDestroyed) {
  counted::made = 0;
  counted::destroyed = 0;
  goro::run(opts(), [] {
    static goro::fiber_local<counted> c;
    goro::chan<int> never, started;
    for (int i = 0; i < 10; i++) {
      goro::go([never, started]() mutable {
        c.get().v = 1;
        started.send(1);
        never.recv();
      });
    }
    for (int i = 0; i < 10; i++) started.recv();
  });
  EXPECT_EQ(counted::made.load(), 10);
  EXPECT_EQ(counted::destroyed.load(), 10);
}

TEST_F(FiberLocalFixed, OutsideAFiberIsAnError) {
  goro::fiber_local<int> x;
  EXPECT_THROW(x.get(), std::logic_error);
  std::thread t([&] { EXPECT_THROW(x.get(), std::logic_error); });
  t.join();
  // Inside goro::blocking it is still the fiber's own value.
  int seen = -1;
  goro::run({.procs = 2}, [&] {
    x.get() = 5;
    goro::blocking([&] { seen = x.get(); });
  });
  EXPECT_EQ(seen, 5);
}

}  // namespace
