// The public face of the runtime's clock (goro/detail/timer.hpp).
#include "os/clock.hpp"

#include "goro/detail/timer.hpp"

namespace goro::detail {

std::int64_t now_ns() noexcept { return rt::now_ns(); }

}  // namespace goro::detail
