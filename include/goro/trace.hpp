// The execution trace: what each P ran, when, and why each fiber became
// runnable, as Chrome Trace Event JSON (docs/trace-format.md), which
// Perfetto, chrome://tracing and tools/trace-viewer/index.html open.
//
// GORO_TRACE=<file> traces every goro::run of the process from its start
// to its end (the file then holds the last runtime's trace);
// GORO_TRACE_FLIGHT_MB=<n> makes that a flight recording (below). Or, from
// code, start() and stop().
#pragma once

#include <cstddef>
#include <string>

namespace goro::trace {

struct options {
  // 0: record everything from start() to stop(), up to max_mb of events
  // (then later events are dropped and counted in the file's
  // otherData.dropped). n > 0: flight recorder: keep only the newest
  // events, in about n MiB per P (per thread, each holding 1/procs of it),
  // and write them on flush(), stop() or SIGQUIT.
  std::size_t flight_recorder_mb = 0;
  std::size_t max_mb = 1024;
};

// Start recording into `path` (created or truncated at once, so that a bad
// path fails here: std::system_error). The trace covers one runtime: the
// calling fiber's, or, called from a thread outside every runtime, the next
// one to run a fiber. Throws std::logic_error if a trace is already being
// recorded. Recording costs one test of a flag per event when off.
void start(const std::string& path, const options& opts = {});

// Stop recording and write the file. Returns false if no trace was being
// recorded. Call it from a fiber of the traced runtime or from any thread;
// the runtime need not have ended.
bool stop();

// Write what is recorded so far to the file (replacing its contents) and
// go on recording: for a flight recording, the newest window. Events that
// happen while the recorded ones are being copied out are not recorded
// (recording resumes before the file is written).
// Returns false if no trace is being recorded.
bool flush();

// Whether a trace is being recorded.
bool active() noexcept;

}  // namespace goro::trace
