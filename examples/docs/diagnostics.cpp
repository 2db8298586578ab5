// examples/docs/diagnostics.cpp: counters, a fiber dump and a trace.
#include <goro/goro.hpp>

#include <cstdio>
#include <iostream>
#include <string>

int main() {
  const std::string trace_file = "/tmp/goro-diagnostics-trace.json";
  return goro::run(goro::options{.procs = 2}, [&] {
    goro::trace::start(trace_file);  // or GORO_TRACE=<file> for the whole run
    goro::chan<int> never;
    goro::go([&] { never.recv(); });  // shows up in the dump as [chan receive]
    goro::wait_group wg;
    for (int i = 0; i < 100; i++) {
      wg.add(1);
      goro::go([&] { wg.done(); });
    }
    wg.wait();
    const goro::runtime_stats s = goro::stats();
    std::printf("%llu fibers created, %lld live, %llu parks\n", static_cast<unsigned long long>(s.total_fibers),
                static_cast<long long>(s.live_fibers), static_cast<unsigned long long>(s.parks));
    goro::dump(std::cout);  // what SIGQUIT prints for every runtime
    never.close();
    goro::trace::stop();  // open the file in tools/trace-viewer/index.html
    std::remove(trace_file.c_str());
    return s.total_fibers >= 102 ? 0 : 1;
  });
}
