// Records an execution trace of a fork-join Fibonacci (every call above the
// base case forks a fiber for one half) and writes it where argv[1] says
// (default: fib-trace.json). Open the file in tools/trace-viewer/index.html,
// Perfetto or chrome://tracing.
//
//   ./build/examples/trace_fib /tmp/fib.json [k] [procs]
#include <goro/goro.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

std::int64_t fib(int k) {
  if (k < 2) return k;
  goro::chan<std::int64_t> half(1);
  goro::go([&half, k] { half.send(fib(k - 1)); });
  const std::int64_t b = fib(k - 2);
  return *half.recv() + b;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "fib-trace.json";
  const int k = argc > 2 ? std::atoi(argv[2]) : 21;
  const int procs = argc > 3 ? std::atoi(argv[3]) : 2;
  const std::int64_t result = goro::run(goro::options{.procs = procs}, [&] {
    goro::trace::start(path);
    const std::int64_t r = fib(k);
    goro::trace::stop();
    return r;
  });
  std::printf("fib(%d) = %lld; trace written to %s\n", k, static_cast<long long>(result), path.c_str());
  return 0;
}
