// The fixture every runtime and stress test uses: a leak check after each
// test, and one sweep of procs for the parameterised ones.
//
//   using Chan = goro_test::RuntimeTest;        // TEST_P(Chan, ...), opts(), procs()
//   GORO_INSTANTIATE_PROCS(Chan);               // Procs/Chan.X/procs1 ... procs8
//
//   using Lifecycle = goro_test::FixedRuntimeTest;  // TEST_F(Lifecycle, ...)
//
//   // Another parameter besides procs (its opts() is the test's own):
//   class ChanCap : public goro_test::RuntimeTestWithParam<cap_procs> { ... };
//
// The leak check (TearDown): once the test body has returned, every
// goro::run in it has returned too, so every fiber (G) and every stack
// mapping the runtimes made must have been given back:
// goro::rt::live_resources() (runtime/debug/resources.hpp) must read
// fibers == 0 and stack_mappings == 0.
//
// The one legitimate exception: a runtime that ends in a deadlock with
// options::throw_on_deadlock keeps its blocked fibers' Gs and stacks until
// the process ends (include/goro/runtime.hpp). A test that does that calls
// allow_kept_stacks(); its own check is skipped, and what it kept becomes
// the expected count for the tests after it in the same process (ctest runs
// each test in a process of its own, where that count stays zero). A leak
// that was reported likewise becomes the expected count, so one leak fails
// one test, not every test after it when the whole binary is run.
#pragma once

#include <gtest/gtest.h>

#include <goro/runtime.hpp>

#include <cstdint>
#include <vector>

#include "debug/resources.hpp"
#include "test_util.hpp"

namespace goro_test {

// The procs every parameterised runtime test sweeps.
inline const std::vector<int>& swept_procs() {
  static const std::vector<int> v{1, 2, 4, 8};
  return v;
}

namespace detail {
// What the tests run so far in this process have left behind on purpose
// (or leaked and had reported): {0, 0} unless such a test ran.
inline goro::rt::resource_counts& expected_live() {
  static goro::rt::resource_counts c;
  return c;
}
}  // namespace detail

// Adds the leak check to a gtest fixture base (::testing::Test or
// ::testing::TestWithParam<T>).
template <class Base>
class LeakChecked : public Base {
 protected:
  // For a test that ends a runtime in a deadlock with
  // options::throw_on_deadlock: the blocked fibers' stacks stay allocated
  // on purpose, so there is nothing to check.
  void allow_kept_stacks() { kept_stacks_allowed_ = true; }

  void TearDown() override {
    const goro::rt::resource_counts now = goro::rt::live_resources();
    goro::rt::resource_counts& expected = detail::expected_live();
    if (kept_stacks_allowed_) {
      // Skipped: the deadlocked runtime's fibers (Gs and stacks) are kept
      // until the process ends, by design. Later tests start from here.
      expected = now;
      return;
    }
    EXPECT_EQ(now.fibers, expected.fibers)
        << "fibers (Gs) still allocated after every goro::run returned";
    EXPECT_EQ(now.stack_mappings, expected.stack_mappings)
        << "stack mappings still mapped after every goro::run returned";
    expected = now;  // reported once; later tests are judged on their own
  }

 private:
  bool kept_stacks_allowed_ = false;
};

// A runtime test with a fixed setup: TEST_F.
using FixedRuntimeTest = LeakChecked<::testing::Test>;

// A runtime test parameterised over something besides procs; the test
// builds its own options from its parameter.
template <class Param>
using RuntimeTestWithParam = LeakChecked<::testing::TestWithParam<Param>>;

// A runtime test parameterised over procs: TEST_P, instantiated with
// GORO_INSTANTIATE_PROCS.
class RuntimeTest : public RuntimeTestWithParam<int> {
 protected:
  int procs() const { return GetParam(); }
  goro::options opts() const { return {.procs = procs()}; }
};

}  // namespace goro_test

// Instantiates a goro_test::RuntimeTest suite (or an alias of it) for
// every procs in goro_test::swept_procs(): Procs/Suite.Test/procs1, ...
#define GORO_INSTANTIATE_PROCS(suite) \
  INSTANTIATE_TEST_SUITE_P(Procs, suite, ::testing::ValuesIn(::goro_test::swept_procs()), ::goro_test::procs_name)
