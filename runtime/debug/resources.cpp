#include "debug/resources.hpp"

namespace goro::rt {

namespace resources {
std::atomic<std::int64_t> fibers{0};
std::atomic<std::int64_t> stack_mappings{0};
}  // namespace resources

resource_counts live_resources() noexcept {
  return {resources::fibers.load(std::memory_order_relaxed), resources::stack_mappings.load(std::memory_order_relaxed)};
}

}  // namespace goro::rt
