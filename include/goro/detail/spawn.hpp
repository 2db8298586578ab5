// What goro::go's template needs from the runtime: two-phase spawning.
#pragma once

#include <cstddef>
#include <source_location>

#include "goro/detail/config.hpp"

namespace goro::detail {

// Spawning is two-phase so the callable can be constructed straight into the
// new fiber's stack (no heap allocation): prepare reserves a fiber and
// `size` bytes of storage, the caller constructs the callable there, then
// commit makes the fiber runnable (or abort returns it unused).
struct spawn_slot {
  fiber* g;
  void* storage;
};
// Throws std::logic_error outside a fiber, std::length_error when the
// callable does not fit the stack, std::bad_alloc when no stack can be mapped.
spawn_slot spawn_prepare(std::size_t size, std::size_t align, std::size_t stack_size);
void spawn_commit(fiber* g, void (*entry)(void* storage), const std::source_location& where) noexcept;
void spawn_abort(fiber* g) noexcept;

}  // namespace goro::detail
