// Process-wide counts of what every runtime allocates and must give back:
// fiber control blocks (Gs) and stack mappings (arenas and single stacks).
// When no runtime is running both are zero, unless a runtime ended in a
// deadlock with options::throw_on_deadlock (its blocked fibers' stacks are
// kept on purpose). The test fixture checks them after every test.
//
// Process-wide, and diagnostic only: nothing reads it to make a decision
// (docs/design.md lists what else is process-wide).
#pragma once

#include <atomic>
#include <cstdint>

namespace goro::rt {

struct resource_counts {
  std::int64_t fibers = 0;          // Gs allocated and not yet destroyed
  std::int64_t stack_mappings = 0;  // stack mappings not yet unmapped
};

resource_counts live_resources() noexcept;

namespace resources {
// relaxed: counters only; no data is published through them.
extern std::atomic<std::int64_t> fibers;
extern std::atomic<std::int64_t> stack_mappings;
}  // namespace resources

}  // namespace goro::rt
