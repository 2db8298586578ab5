// Operations on the calling fiber.
#pragma once

#include <cstdint>

namespace goro::this_fiber {

// Give up the processor: the calling fiber goes to the back of its P's run
// queue and other runnable fibers run first (Go's runtime.Gosched).
// Throws std::logic_error when the caller is not a fiber.
void yield();

// The calling fiber's id: unique within its runtime, starting at 1 for the
// main fiber. 0 when the caller is not a fiber.
std::uint64_t id() noexcept;

}  // namespace goro::this_fiber
