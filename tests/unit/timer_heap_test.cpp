// The timer heap alone (runtime/time/timer_heap.hpp): timers fire in `when`
// order, exactly once, whatever was pushed and removed in between; each
// pending timer knows its heap and index; periodic timers re-arm past the
// missed periods; drop_all hands every pending timer to its drop hook.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <random>
#include <set>
#include <vector>

#include "time/timer_heap.hpp"

namespace {

using goro::rt::timer_access;
using goro::rt::timer_heap;

struct rec : goro::detail::timer_node {
  std::vector<const rec*>* log = nullptr;
  int fired = 0;
  int dropped = 0;
  std::int64_t fired_at = 0;
};

void on_fire(goro::detail::timer_node* t, std::int64_t now) {
  auto* r = static_cast<rec*>(t);
  r->fired++;
  r->fired_at = now;
  r->log->push_back(r);
}

// Every pending timer's index is distinct and in range, and it names this heap.
void expect_consistent(timer_heap& h, const std::vector<rec>& all) {
  std::set<std::int32_t> seen;
  for (const rec& r : all) {
    auto* t = const_cast<rec*>(&r);
    if (timer_access::holder(t) == nullptr) {
      EXPECT_EQ(timer_access::index(t), -1);
      continue;
    }
    EXPECT_EQ(timer_access::holder(t), &h);
    const std::int32_t i = timer_access::index(t);
    EXPECT_GE(i, 0);
    EXPECT_LT(static_cast<std::size_t>(i), h.size());
    EXPECT_TRUE(seen.insert(i).second) << "two timers at index " << i;
  }
  EXPECT_EQ(seen.size(), h.size());
}

TEST(TimerHeap, FiresInWhenOrderExactlyOnceAfterRandomPushesAndRemoves) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 50; round++) {
    timer_heap h;
    std::lock_guard<goro::rt::futex_lock> l(h.lock);
    const int n = 1 + static_cast<int>(rng() % 300);
    std::vector<rec> all(static_cast<std::size_t>(n));
    std::vector<const rec*> log;
    for (rec& r : all) {
      r.when = 1 + static_cast<std::int64_t>(rng() % 1000);  // ties on purpose
      r.fire = on_fire;
      r.log = &log;
      const bool first = h.push(&r);
      EXPECT_EQ(first, h.top() == &r);
      EXPECT_EQ(h.earliest.load(), h.top()->when);
    }
    expect_consistent(h, all);
    // Remove a random third, from anywhere in the heap.
    std::set<const rec*> removed;
    for (rec& r : all)
      if (rng() % 3 == 0) {
        h.remove(&r);
        removed.insert(&r);
        EXPECT_EQ(timer_access::holder(&r), nullptr);
        EXPECT_EQ(timer_access::home(&r), &h);  // kept for timer_stop
      }
    expect_consistent(h, all);
    EXPECT_EQ(h.size(), all.size() - removed.size());
    // Fire in two steps: first everything due by 500, then the rest.
    EXPECT_EQ(h.run_due(500), std::any_of(all.begin(), all.end(), [&](const rec& r) {
                return r.when <= 500 && !removed.count(&r);
              }));
    for (const rec* r : log) EXPECT_LE(r->when, 500);
    EXPECT_TRUE(h.empty() || h.top()->when > 500);
    expect_consistent(h, all);
    h.run_due(INT64_MAX);
    EXPECT_TRUE(h.empty());
    EXPECT_EQ(h.earliest.load(), 0);
    for (std::size_t i = 1; i < log.size(); i++) EXPECT_LE(log[i - 1]->when, log[i]->when) << "out of order at " << i;
    for (const rec& r : all) EXPECT_EQ(r.fired, removed.count(&r) ? 0 : 1);
    EXPECT_EQ(log.size(), all.size() - removed.size());
  }
}

TEST(TimerHeap, PeriodicTimerSkipsMissedPeriodsAndStays) {
  timer_heap h;
  std::lock_guard<goro::rt::futex_lock> l(h.lock);
  std::vector<const rec*> log;
  rec t;
  t.when = 100;
  t.period = 10;
  t.fire = on_fire;
  t.log = &log;
  h.push(&t);
  EXPECT_FALSE(h.run_due(99));
  EXPECT_TRUE(h.run_due(100));
  EXPECT_EQ(t.when, 110);
  // 35 late: fires once, and the next time is the first period after now.
  EXPECT_TRUE(h.run_due(145));
  EXPECT_EQ(t.fired, 2);
  EXPECT_EQ(t.when, 150);
  EXPECT_EQ(timer_access::holder(&t), &h);
  EXPECT_EQ(h.earliest.load(), 150);
  h.remove(&t);
  EXPECT_TRUE(h.empty());
  EXPECT_FALSE(h.run_due(1000));
  EXPECT_EQ(t.fired, 2);
}

TEST(TimerHeap, OneShotLeavesTheHeapBeforeItsFireRuns) {
  timer_heap h;
  std::lock_guard<goro::rt::futex_lock> l(h.lock);
  struct self_check : goro::detail::timer_node {
    timer_heap* h = nullptr;
    bool was_pending = true;
  } t;
  t.when = 5;
  t.h = &h;
  t.fire = [](goro::detail::timer_node* n, std::int64_t) {
    auto* s = static_cast<self_check*>(n);
    s->was_pending = timer_access::holder(n) != nullptr;
    // A one-shot may be started again from its own fire.
    n->when = 50;
    s->h->push(n);
  };
  h.push(&t);
  EXPECT_TRUE(h.run_due(10));
  EXPECT_FALSE(t.was_pending);
  EXPECT_EQ(timer_access::holder(&t), &h);  // re-armed by its fire, not fired again
  EXPECT_EQ(h.earliest.load(), 50);
}

TEST(TimerHeap, DropAllHandsEveryPendingTimerToItsDropHook) {
  timer_heap h;
  std::lock_guard<goro::rt::futex_lock> l(h.lock);
  std::vector<rec> all(20);
  for (std::size_t i = 0; i < all.size(); i++) {
    all[i].when = static_cast<std::int64_t>(100 - i);
    all[i].drop = [](goro::detail::timer_node* n) { static_cast<rec*>(n)->dropped++; };
    h.push(&all[i]);
  }
  h.remove(&all[3]);
  h.drop_all();
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.earliest.load(), 0);
  for (std::size_t i = 0; i < all.size(); i++) {
    EXPECT_EQ(all[i].dropped, i == 3 ? 0 : 1) << i;
    EXPECT_EQ(timer_access::holder(&all[i]), nullptr);
    EXPECT_EQ(timer_access::index(&all[i]), -1);
  }
}

}  // namespace
