// Process-wide counts of sysmon's retakes, by reason, for tests and
// diagnostics: a test reads them before and after to learn which mechanism
// moved a P. Written only by sysmon threads; nothing reads them to make a
// decision (docs/design.md lists what else is process-wide).
#pragma once

#include <atomic>
#include <cstdint>

namespace goro::rt::counters {

// relaxed: counts only; no data is published through them.
// A P whose fiber was inside goro::blocking.
extern std::atomic<std::int64_t> retakes_blocking;
// A P whose fiber computed for a time slice without a runtime call.
extern std::atomic<std::int64_t> retakes_busy;
// A P whose fiber stayed in user code for a time slice with its thread
// asleep in the kernel (a blocking call nobody wrapped).
extern std::atomic<std::int64_t> retakes_asleep;

}  // namespace goro::rt::counters
