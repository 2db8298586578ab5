// examples/docs/stacks.cpp: fixed-size fiber stacks, chosen per runtime or per fiber.
#include <goro/goro.hpp>

#include <cstdio>

// Each call takes a frame: deep recursion needs a bigger stack than 256 KiB.
long depth(long n) {
  volatile char frame[256];
  frame[0] = static_cast<char>(n);
  return n == 0 ? frame[0] : 1 + depth(n - 1);
}

int main() {
  goro::options opts;
  opts.stack_size = 128 * 1024;  // every fiber's default (0: 256 KiB)
  return goro::run(opts, [] {
    goro::chan<long> out(1);
    // This one fiber gets 8 MiB of address space, committed as it is used.
    goro::go(goro::spawn_options{.stack_size = 8 << 20}, [out]() mutable { out.send(depth(5000)); });
    const long d = *out.recv();
    std::printf("depth %ld\n", d);
    return d == 5000 ? 0 : 1;
  });
}
