#include "os/membarrier.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>

#include "debug/fatal.hpp"
#include "goro/detail/config.hpp"

namespace goro::rt {

bool membarrier_ok = false;

void init_membarrier() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
#if GORO_TSAN
    membarrier_ok = false;  // TSan does not model it: use real fences
#else
    membarrier_ok = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#endif
  });
}

void fence_heavy() noexcept {
  if (membarrier_ok) {
    // A full barrier on every thread of the process that is running now.
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return;
    fatal("fence_heavy", "membarrier failed after registration");
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

}  // namespace goro::rt
