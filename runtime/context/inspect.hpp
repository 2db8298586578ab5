// Looking inside a goro::context, for tests and diagnostics (not installed).
#pragma once

#include <cstddef>

#include "goro/context.hpp"

namespace goro::rt {

// How many cancelable children are linked under ctx's nearest cancelable
// ancestor (a child unlinks itself when it is cancelled or destroyed).
std::size_t context_children(const context& ctx) noexcept;

}  // namespace goro::rt
