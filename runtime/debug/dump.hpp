// The fiber dump (goro::dump, SIGQUIT, the deadlock report) and the
// scheduler trace line (GORO_SCHEDTRACE): printers shared by the public
// entry points in debug/stats.cpp and by checkdead.
#pragma once

#include <cstdint>
#include <string>

namespace goro::rt {

struct runtime;

// Every fiber of rt that is not dead: a blank line, then
// "fiber N [state or wait reason, T ms]:", its creation site and, for a
// fiber waiting on a mutex or channel, the wait-for edge. Takes allglock.
// Safe while fibers run: fields are read with relaxed atomics, so a fiber
// changing state meanwhile yields a line that was true a moment ago.
std::string fiber_report(runtime* rt);

// Go's schedtrace line for rt ("goro: sched Tms: procs=... idleprocs=...
// threads=... spinningthreads=... idlethreads=... runqueue=... [a b ...]"),
// then with `detail`, one line per P, per M and per fiber. Takes the sched
// lock (not while holding it).
std::string schedtrace_report(runtime* rt, std::int64_t since_start_ns, bool detail);

// GORO_SCHEDTRACE=<ms> / GORO_SCHEDTRACE_DETAIL=1 from the environment:
// the period in ns (0: off). An invalid value is reported on stderr and
// ignored, as GORO_MAXPROCS's are.
std::int64_t schedtrace_period_ns(bool& detail);

// SIGQUIT prints goro::dump_all to stderr (and writes the flight
// recorder's trace, if one is recording), then the process goes on. Installed
// by the first runtime, unless GORO_SIGQUIT=0 or the program already has a
// handler for SIGQUIT. Idempotent.
void install_sigquit_handler();
// Whether the thread that prints on SIGQUIT exists (checkdead counts the
// threads the runtime made).
bool sigquit_thread_running() noexcept;

}  // namespace goro::rt
