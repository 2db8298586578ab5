#include "debug/wait_reason.hpp"

namespace goro::rt {

const char* to_string(detail::wait_reason r) noexcept {
  using detail::wait_reason;
  switch (r) {
    case wait_reason::none: return "running";
    case wait_reason::chan_send: return "chan send";
    case wait_reason::chan_recv: return "chan receive";
    case wait_reason::chan_send_nil: return "chan send (nil chan)";
    case wait_reason::chan_recv_nil: return "chan receive (nil chan)";
    case wait_reason::select: return "select";
    case wait_reason::select_no_cases: return "select (no cases)";
    case wait_reason::wait_group: return "wait group";
    case wait_reason::semaphore: return "semaphore";
    case wait_reason::mutex: return "mutex";
    case wait_reason::rwmutex_read: return "shared_mutex (shared)";
    case wait_reason::rwmutex_write: return "shared_mutex (exclusive)";
    case wait_reason::cond: return "condition variable";
    case wait_reason::sleep: return "sleep";
    case wait_reason::io: return "IO wait";
  }
  return "?";
}

}  // namespace goro::rt
