// examples/docs/blocking_calls.cpp: a blocking system call inside goro::blocking.
#include <goro/goro.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>

int main() {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  const int rc = goro::run([&] {
    goro::go([&] {
      goro::this_fiber::sleep_for(std::chrono::milliseconds(5));  // parks the fiber only
      if (write(fds[1], "x", 1) != 1) std::perror("write");
    });
    char c = 0;
    // read blocks its thread: goro::blocking hands this fiber's P to
    // another thread first, so the writer above can run meanwhile.
    const ssize_t n = goro::blocking([&] { return read(fds[0], &c, 1); });
    return n == 1 && c == 'x' ? 0 : 1;
  });
  close(fds[0]);
  close(fds[1]);
  std::printf("read %s\n", rc == 0 ? "ok" : "failed");
  return rc;
}
