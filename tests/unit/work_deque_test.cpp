// The continuation deque alone: LIFO for the owner, FIFO for thieves, and
// exactly-once under concurrent stealing.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "sched/work_deque.hpp"
#include "test_util.hpp"

namespace {

using goro::rt::work_deque;

struct item {
  std::atomic<int> taken{0};
};

TEST(WorkDeque, OwnerIsLifoThiefIsFifo) {
  work_deque<item, 8> d;
  item a, b, c;
  EXPECT_TRUE(d.push(&a));
  EXPECT_TRUE(d.push(&b));
  EXPECT_TRUE(d.push(&c));
  EXPECT_EQ(d.steal(), &a);
  EXPECT_EQ(d.pop(), &c);
  EXPECT_EQ(d.pop(), &b);
  EXPECT_EQ(d.pop(), nullptr);
  EXPECT_EQ(d.steal(), nullptr);
  EXPECT_TRUE(d.empty());
}

TEST(WorkDeque, RefusesWhenFull) {
  work_deque<item, 4> d;
  item xs[5];
  for (int i = 0; i < 4; i++) EXPECT_TRUE(d.push(&xs[i]));
  EXPECT_FALSE(d.push(&xs[4]));
  EXPECT_EQ(d.steal(), &xs[0]);
  EXPECT_TRUE(d.push(&xs[4]));
}

TEST(WorkDeque, ConcurrentStealsTakeEveryItemExactlyOnce) {
  const int total = static_cast<int>(goro_test::scaled(300000));
  std::vector<item> items(total);
  work_deque<item, 64> d;
  std::atomic<bool> done{false};
  std::atomic<int> consumed{0};
  std::vector<std::thread> ts;
  for (int k = 0; k < 3; k++) {
    ts.emplace_back([&] {
      while (!done.load(std::memory_order_acquire)) {
        if (item* it = d.steal()) {
          it->taken.fetch_add(1);
          consumed.fetch_add(1);
        }
      }
    });
  }
  for (int i = 0; i < total; i++) {
    while (!d.push(&items[i])) {
      if (item* it = d.pop()) {
        it->taken.fetch_add(1);
        consumed.fetch_add(1);
      }
    }
    if (i % 2 == 0) {
      if (item* it = d.pop()) {
        it->taken.fetch_add(1);
        consumed.fetch_add(1);
      }
    }
  }
  while (item* it = d.pop()) {
    it->taken.fetch_add(1);
    consumed.fetch_add(1);
  }
  while (consumed.load() < total) std::this_thread::yield();
  done.store(true);
  for (auto& t : ts) t.join();
  for (int i = 0; i < total; i++) ASSERT_EQ(items[i].taken.load(), 1) << "item " << i;
}

}  // namespace
