// The wait list alone (goro/detail/wait.hpp): FIFO order, removal from
// anywhere, and pop's claims: a must_claim waiter is claimed for the popper
// (and named in its parker's `fired`), and one whose party was already
// claimed (another case of the same select, or its timeout) is dropped.
#include <gtest/gtest.h>

#include <goro/detail/wait.hpp>

#include <vector>

namespace {

using goro::detail::claim_state;
using goro::detail::parker;
using goro::detail::wait_list;
using goro::detail::waiter;

std::vector<waiter*> drain(wait_list& l) {
  std::vector<waiter*> out;
  while (waiter* w = l.pop()) out.push_back(w);
  return out;
}

TEST(WaitList, FifoWithPushFrontAndRemovalFromAnywhere) {
  parker p;
  std::vector<waiter> w(6);
  for (waiter& x : w) x.who = &p;
  wait_list l;
  EXPECT_TRUE(l.empty());
  for (int i = 1; i < 6; i++) l.push_back(&w[static_cast<std::size_t>(i)]);
  l.push_front(&w[0]);
  for (const waiter& x : w) EXPECT_TRUE(x.queued);
  l.remove(&w[0]);  // head
  l.remove(&w[3]);  // middle
  l.remove(&w[5]);  // tail
  l.remove(&w[3]);  // not queued: a no-op
  EXPECT_FALSE(w[3].queued);
  EXPECT_EQ(drain(l), (std::vector<waiter*>{&w[1], &w[2], &w[4]}));
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.tail, nullptr);
  for (const waiter& x : w) EXPECT_FALSE(x.queued);
  // Plain waiters are never claimed.
  EXPECT_EQ(p.claimed.load(), claim_state::open);
  EXPECT_EQ(p.fired, nullptr);
}

TEST(WaitList, PopClaimsMustClaimWaitersAndSkipsClaimedOnes) {
  parker timed_out, select, plain;
  timed_out.claimed.store(claim_state::timed_out);
  waiter a, b1, b2, c;
  a.who = &timed_out;
  a.must_claim = true;
  b1.who = &select;  // one select waiting on two queues of this list
  b1.must_claim = true;
  b2.who = &select;
  b2.must_claim = true;
  c.who = &plain;
  wait_list l;
  l.push_back(&a);
  l.push_back(&b1);
  l.push_back(&c);
  l.push_back(&b2);
  // a's timeout won: dropped. b1 is claimed for us.
  EXPECT_EQ(l.pop(), &b1);
  EXPECT_FALSE(a.queued);
  EXPECT_EQ(select.claimed.load(), claim_state::woken);
  EXPECT_EQ(select.fired, &b1);
  // c is plain; b2's party is already claimed (through b1): dropped.
  EXPECT_EQ(l.pop(), &c);
  EXPECT_EQ(l.pop(), nullptr);
  EXPECT_TRUE(l.empty());
  EXPECT_FALSE(b2.queued);
  EXPECT_EQ(timed_out.claimed.load(), claim_state::timed_out);
  EXPECT_EQ(timed_out.fired, nullptr);
}

TEST(WaitList, ParkerClaimHasExactlyOneWinner) {
  parker p;
  EXPECT_TRUE(goro::detail::parker_claim(p));
  EXPECT_FALSE(goro::detail::parker_claim(p));
  EXPECT_EQ(p.claimed.load(), claim_state::woken);
}

}  // namespace
