// examples/docs/deadlock.cpp: the deadlock report, as an exception for once.
#include <goro/goro.hpp>

#include <cstdio>
#include <cstring>

int main() {
  goro::options opts;
  opts.procs = 2;                 // GOMAXPROCS=2 (0: GORO_MAXPROCS, else the CPUs)
  opts.throw_on_deadlock = true;  // default: print the report and abort, like Go
  try {
    goro::run(opts, [] {
      goro::chan<int> c;
      c.recv();  // nobody will ever send
    });
  } catch (const goro::deadlock_error& e) {
    std::printf("%s", e.what());
    return std::strstr(e.what(), "chan receive") ? 0 : 1;
  }
  return 1;
}
