// Wait reasons as text, for the deadlock report and dumps.
#pragma once

#include "goro/detail/wait.hpp"

namespace goro::rt {

const char* to_string(detail::wait_reason r) noexcept;

}  // namespace goro::rt
