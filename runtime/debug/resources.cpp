#include "debug/resources.hpp"

#include "debug/counters.hpp"

namespace goro::rt {

namespace resources {
std::atomic<std::int64_t> fibers{0};
std::atomic<std::int64_t> stack_mappings{0};
}  // namespace resources

namespace counters {
std::atomic<std::int64_t> retakes_blocking{0};
std::atomic<std::int64_t> retakes_busy{0};
std::atomic<std::int64_t> retakes_asleep{0};
}  // namespace counters

resource_counts live_resources() noexcept {
  return {resources::fibers.load(std::memory_order_relaxed), resources::stack_mappings.load(std::memory_order_relaxed)};
}

}  // namespace goro::rt
