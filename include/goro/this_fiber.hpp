// Operations on the calling fiber.
#pragma once

#include <cstdint>

namespace goro::this_fiber {

// Give up the processor (Go's runtime.Gosched): the calling fiber goes to
// the back of its P's local run queue, and the fibers queued there run
// first. Fibers that overflowed to the global queue (more runnable fibers
// than a local queue holds, 256) get a turn at least every 61 scheduling
// decisions, so nobody starves, but beyond that size the order is not
// round-robin.
// Throws std::logic_error when the caller is not a fiber.
void yield();

// The calling fiber's id: unique within its runtime, starting at 1 for the
// main fiber. 0 when the caller is not a fiber.
std::uint64_t id() noexcept;

// A cheap check for long computations: yields when sysmon has seen this
// fiber run for 10 ms while other fibers wait for its P. Without it such a
// fiber is not stopped either; sysmon then hands its P to another thread
// (docs/design.md), which costs a thread switch and, briefly, one more
// running thread. A no-op outside a fiber and inside goro::blocking.
void preempt_point() noexcept;

}  // namespace goro::this_fiber
