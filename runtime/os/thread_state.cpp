#include "os/thread_state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace goro::rt {

kernel_thread_state read_kernel_thread_state(pid_t tid) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", static_cast<int>(tid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return kernel_thread_state::unknown;
  // "tid (comm) S ...": comm is at most 16 bytes but may itself hold ')',
  // so the state is the first letter after the last ')'. 128 bytes reach
  // well past it.
  char buf[128];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return kernel_thread_state::unknown;
  buf[n] = '\0';
  const char* close_paren = std::strrchr(buf, ')');
  if (close_paren == nullptr || close_paren[1] != ' ') return kernel_thread_state::unknown;
  switch (close_paren[2]) {
    case 'R': return kernel_thread_state::running;
    case 'S':
    case 'D': return kernel_thread_state::sleeping;
    case '\0': return kernel_thread_state::unknown;
    default: return kernel_thread_state::other;
  }
}

int process_thread_count() noexcept {
  const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  // The file is about 1.5 KiB; Threads: comes about two thirds of the way.
  char buf[4096];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* line = std::strstr(buf, "\nThreads:");
  if (line == nullptr) return -1;
  return std::atoi(line + 9);
}

}  // namespace goro::rt
