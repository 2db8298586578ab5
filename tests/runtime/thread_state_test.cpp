// Thread-local state follows the fiber across switches and threads:
// errno, the C++ exception state, and the runtime's own current fiber.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include "runtime_fixture.hpp"
#include "test_util.hpp"

#include <atomic>
#include <cerrno>
#include <exception>
#include <set>
#include <stdexcept>
#include <thread>

namespace {

using ThreadState = goro_test::RuntimeTest;

TEST_P(ThreadState, ErrnoBelongsToTheFiber) {
  std::atomic<int> wrong{0};
  goro::run(opts(), [&] {
    goro::wait_group wg;
    wg.add(32);
    for (int f = 0; f < 32; f++)
      goro::go([&, f] {
        for (int i = 0; i < 500; i++) {
          goro_test::set_errno(1000 + f);
          goro::this_fiber::yield();
          if (goro_test::get_errno() != 1000 + f) wrong++;
        }
        wg.done();
      });
    wg.wait();
  });
  EXPECT_EQ(wrong.load(), 0);
}

// A fiber inside a catch block yields (and may move threads): the
// exception being handled stays its own.
TEST_P(ThreadState, CaughtExceptionSurvivesASwitch) {
  std::atomic<int> wrong{0};
  goro::run(opts(), [&] {
    goro::wait_group wg;
    wg.add(16);
    for (int f = 0; f < 16; f++)
      goro::go([&, f] {
        try {
          throw std::runtime_error(std::to_string(f));
        } catch (const std::runtime_error&) {
          for (int i = 0; i < 50; i++) goro::this_fiber::yield();
          try {
            throw;  // rethrows *our* exception
          } catch (const std::runtime_error& e) {
            if (std::string(e.what()) != std::to_string(f)) wrong++;
          }
        }
        if (std::uncaught_exceptions() != 0) wrong++;
        wg.done();
      });
    wg.wait();
  });
  EXPECT_EQ(wrong.load(), 0);
}

GORO_INSTANTIATE_PROCS(ThreadState);

}  // namespace
