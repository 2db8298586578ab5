// Fiber stacks alone: sizes, the guard region, reuse of arena slots.
#include <gtest/gtest.h>

#include <set>

#include "fiber/stack.hpp"

namespace {

using namespace goro::rt;

TEST(Stack, NormalizesSizes) {
  EXPECT_EQ(normalize_stack_size(1), 16u * 1024);
  EXPECT_EQ(normalize_stack_size(256 * 1024), 256u * 1024);
  EXPECT_EQ(normalize_stack_size(256 * 1024 + 1) % page_size(), 0u);
}

TEST(Stack, ArenaStacksAreDistinctAndWritable) {
  stack_pool pool(64 * 1024);
  std::set<char*> seen;
  for (int i = 0; i < 200; i++) {  // more than one arena
    stack s = pool.allocate(64 * 1024);
    EXPECT_FALSE(s.own_mapping);
    EXPECT_EQ(s.usable, 64u * 1024);
    EXPECT_TRUE(seen.insert(s.lo()).second);
    s.hi()[-1] = 1;  // top and bottom usable bytes are writable
    s.lo()[0] = 1;
    EXPECT_TRUE(s.in_guard(s.lo() - 1));
    EXPECT_FALSE(s.in_guard(s.lo()));
  }
}

TEST(Stack, CustomSizesGetTheirOwnMapping) {
  stack_pool pool(64 * 1024);
  stack s = pool.allocate(1024 * 1024);
  EXPECT_TRUE(s.own_mapping);
  s.lo()[0] = 1;
  s.hi()[-1] = 1;
  pool.release(s);
  EXPECT_EQ(s.guard, nullptr);
}

TEST(StackDeathTest, GuardRegionFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  stack_pool pool(64 * 1024);
  stack s = pool.allocate(64 * 1024);
  EXPECT_DEATH({ *(volatile char*)(s.lo() - 1) = 1; }, "");
}

}  // namespace
