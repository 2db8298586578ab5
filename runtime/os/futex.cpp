#include "os/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace goro::rt {

int futex_wait(std::atomic<std::uint32_t>* addr, std::uint32_t expected, const timespec* timeout) noexcept {
  if (syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), FUTEX_WAIT | FUTEX_PRIVATE_FLAG, expected,
              timeout, nullptr, 0) == 0)
    return 0;
  return errno;
}

void futex_wake(std::atomic<std::uint32_t>* addr, int count) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, count, nullptr,
          nullptr, 0);
}

}  // namespace goro::rt
