// A stack overflow never writes into another fiber's stack: it ends the
// process with a message naming the fiber, however large the frames.
//
// Built twice: overflow_noprobe_test.cpp compiles this file without stack
// probing (-fno-stack-clash-protection, as code built by a compiler that
// does not probe), and overflow_probe_test.cpp with the options goro::goro
// exports. Without probing, a function touches its frame only where it uses
// it; these frames (40 KiB each) are used only at their lowest address, so
// each call moves 40 KiB down at once, and with a guard region smaller than
// the frame, the next call lands in the fiber below, past the guard.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "goro/detail/config.hpp"
#include "runtime_fixture.hpp"

#ifndef GORO_OVERFLOW_SUITE
#error "include from overflow_noprobe_test.cpp or overflow_probe_test.cpp"
#endif

namespace {

constexpr std::size_t frame_size = 40 * 1024;
constexpr std::size_t canary_size = 200 * 1024;
constexpr int canary_fibers = 8;
constexpr unsigned char canary_byte = 0xA5;

// Each frame is touched only at its lowest bytes (buf[0], then the call's
// return address just below).
[[gnu::noinline]] int deep(int depth, int max) {
  volatile char buf[frame_size];
  buf[0] = static_cast<char>(depth);
  if (depth >= max) return buf[0];
  return deep(depth + 1, max) + buf[0];
}

// 8 fibers hold a 200 KiB canary on their stacks, parked; the fiber spawned
// right after them (so its stack lies just above theirs) recurses `depth`
// frames of 40 KiB on a 256 KiB stack. The process must die in the
// recursing fiber's guard. If it survives, the canaries are checked and the
// child exits 0, which fails the death test either way.
void overflow_next_to_canaries(int procs, int depth) {
  goro::run({.procs = procs}, [depth] {
    goro::chan<int> release;
    goro::wait_group parked;
    goro::wait_group done;
    std::vector<int> damaged(canary_fibers, 0);
    parked.add(canary_fibers);
    done.add(canary_fibers);
    for (int i = 0; i < canary_fibers; i++) {
      goro::go([&, i] {
        volatile unsigned char canary[canary_size];
        for (std::size_t k = 0; k < canary_size; k++) canary[k] = canary_byte;
        parked.done();
        release.recv();
        for (std::size_t k = 0; k < canary_size; k++) damaged[i] += canary[k] != canary_byte;
        done.done();
      });
    }
    parked.wait();
    goro::wait_group deep_done;
    deep_done.add(1);
    goro::go([&] {
      deep(0, depth);
      deep_done.done();
    });
    deep_done.wait();
    release.close();
    done.wait();
    int total = 0;
    for (int d : damaged) total += d;
    std::fprintf(stderr, "survived the recursion; %d canary bytes overwritten\n", total);
  });
  std::exit(0);
}

class GORO_OVERFLOW_SUITE : public goro_test::RuntimeTestWithParam<int> {
 protected:
  void SetUp() override {
    goro_test::RuntimeTestWithParam<int>::SetUp();
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

TEST_P(GORO_OVERFLOW_SUITE, FramesLargerThanAPageHitTheGuardNotANeighbour) {
#if GORO_ASAN
  GTEST_SKIP() << "AddressSanitizer reports stack overflows itself";
#endif
  for (int depth : {8, 20}) {
    EXPECT_DEATH(overflow_next_to_canaries(GetParam(), depth),
                 "goro: fatal: stack overflow in fiber [0-9]+ \\(created at .*overflow_test.cpp:[0-9]+ in .*\\); "
                 "its stack is 262144 bytes")
        << "depth " << depth;
  }
}

INSTANTIATE_TEST_SUITE_P(Procs, GORO_OVERFLOW_SUITE, ::testing::Values(1, 4), goro_test::procs_name);

}  // namespace
