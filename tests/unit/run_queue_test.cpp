// The local run queue alone (Go's RunSchedLocalQueueTest and
// RunSchedLocalQueueStealTest): FIFO order at every length, overflow, and
// steal-half with every item taken exactly once under concurrent thieves.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "sched/run_queue.hpp"
#include "test_util.hpp"

namespace {

using goro::rt::run_queue;

struct item {
  int id = 0;
  std::atomic<int> taken{0};
};

auto no_overflow = [](item**, std::uint32_t) { FAIL() << "unexpected overflow"; };

TEST(RunQueue, FifoForEveryLength) {
  for (std::uint32_t len = 0; len <= 256; len++) {
    run_queue<item, 256> q;
    std::vector<item> items(len);
    for (std::uint32_t i = 0; i < len; i++) {
      items[i].id = static_cast<int>(i);
      q.put(&items[i], false, no_overflow);
    }
    EXPECT_EQ(q.size(), len);
    for (std::uint32_t i = 0; i < len; i++) {
      auto t = q.get();
      ASSERT_NE(t.item, nullptr) << "len " << len << " i " << i;
      EXPECT_EQ(t.item->id, static_cast<int>(i)) << "len " << len;
      EXPECT_FALSE(t.from_next);
    }
    EXPECT_EQ(q.get().item, nullptr);
    EXPECT_TRUE(q.empty());
  }
}

TEST(RunQueue, RunnextComesFirstAndKicksTheOldOneToTheTail) {
  run_queue<item, 8> q;
  item a, b, c;
  a.id = 1, b.id = 2, c.id = 3;
  q.put(&a, false, no_overflow);
  q.put(&b, true, no_overflow);
  q.put(&c, true, no_overflow);  // b goes to the tail
  auto t = q.get();
  EXPECT_EQ(t.item, &c);
  EXPECT_TRUE(t.from_next);
  EXPECT_EQ(q.get().item, &a);
  EXPECT_EQ(q.get().item, &b);
  EXPECT_EQ(q.get().item, nullptr);
}

TEST(RunQueue, OverflowMovesHalfPlusOneInOrder) {
  run_queue<item, 4> q;
  std::vector<item> items(5);
  std::vector<int> spilled;
  for (int i = 0; i < 5; i++) {
    items[i].id = i;
    q.put(&items[i], false, [&](item** batch, std::uint32_t n) {
      for (std::uint32_t k = 0; k < n; k++) spilled.push_back(batch[k]->id);
    });
  }
  // Full at 4: the fifth put moves the oldest half (2) and itself.
  EXPECT_EQ(spilled, (std::vector<int>{0, 1, 4}));
  EXPECT_EQ(q.get().item->id, 2);
  EXPECT_EQ(q.get().item->id, 3);
  EXPECT_EQ(q.get().item, nullptr);
}

TEST(RunQueue, StealTakesHalfRoundedUp) {
  for (std::uint32_t len = 1; len <= 256; len++) {
    run_queue<item, 256> victim, thief;
    std::vector<item> items(len);
    for (auto& it : items) victim.put(&it, false, no_overflow);
    item* first = thief.steal_from(victim, false, false);
    ASSERT_NE(first, nullptr);
    std::uint32_t stolen = 1 + thief.size();
    EXPECT_EQ(stolen, len - len / 2) << "len " << len;
    EXPECT_EQ(victim.size(), len / 2);
    // Thief gets the oldest items, in order; the one returned is the newest
    // of them.
    for (std::uint32_t i = 0; i + 1 < stolen; i++) EXPECT_EQ(thief.get().item, &items[i]);
    EXPECT_EQ(first, &items[stolen - 1]);
  }
}

// The steal_amount knob's `one`: the oldest item alone, at every length;
// runnext still only when the ring is empty.
TEST(RunQueue, StealOneTakesTheOldest) {
  for (std::uint32_t len = 1; len <= 256; len++) {
    run_queue<item, 256> victim, thief;
    std::vector<item> items(len);
    for (auto& it : items) victim.put(&it, false, no_overflow);
    EXPECT_EQ(thief.steal_from(victim, false, true), &items[0]) << "len " << len;
    EXPECT_EQ(thief.size(), 0u);
    EXPECT_EQ(victim.size(), len - 1);
  }
  run_queue<item, 8> victim, thief;
  item a;
  victim.put(&a, true, no_overflow);
  EXPECT_EQ(thief.steal_from(victim, false, true), nullptr);
  EXPECT_EQ(thief.steal_from(victim, true, true), &a);
}

TEST(RunQueue, StealTakesRunnextOnlyWhenAskedAndRingEmpty) {
  run_queue<item, 8> victim, thief;
  item a;
  victim.put(&a, true, no_overflow);
  EXPECT_EQ(thief.steal_from(victim, false, false), nullptr);
  EXPECT_EQ(thief.steal_from(victim, true, false), &a);
  EXPECT_TRUE(victim.empty());
}

// Owner puts and gets while thieves steal: every item is taken exactly once.
TEST(RunQueue, ConcurrentThievesTakeEveryItemExactlyOnce) {
  constexpr int thieves = 3;
  const int total = static_cast<int>(goro_test::scaled(200000));
  std::vector<item> items(total);
  run_queue<item, 256> owner;
  std::vector<std::unique_ptr<run_queue<item, 256>>> tq;
  for (int i = 0; i < thieves; i++) tq.push_back(std::make_unique<run_queue<item, 256>>());
  std::atomic<bool> done{false};
  std::atomic<int> consumed{0};
  auto take = [&](item* it) {
    it->taken.fetch_add(1, std::memory_order_relaxed);
    consumed.fetch_add(1, std::memory_order_relaxed);
  };
  std::vector<std::thread> ts;
  for (int k = 0; k < thieves; k++) {
    ts.emplace_back([&, k] {
      auto& mine = *tq[k];
      while (!done.load(std::memory_order_acquire)) {
        if (item* it = mine.steal_from(owner, k == 0, false)) {
          take(it);
          while (item* x = mine.get().item) take(x);
        }
      }
    });
  }
  std::vector<item*> overflowed;
  for (int i = 0; i < total; i++) {
    owner.put(&items[i], i % 7 == 0, [&](item** b, std::uint32_t n) { overflowed.insert(overflowed.end(), b, b + n); });
    if (i % 3 == 0) {
      if (item* it = owner.get().item) take(it);
    }
  }
  while (item* it = owner.get().item) take(it);
  for (item* it : overflowed) take(it);
  while (consumed.load() < total) std::this_thread::yield();
  done.store(true, std::memory_order_release);
  for (auto& t : ts) t.join();
  for (int i = 0; i < total; i++) ASSERT_EQ(items[i].taken.load(), 1) << "item " << i;
}

}  // namespace
