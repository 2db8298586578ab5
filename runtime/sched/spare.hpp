// Spare Ms: idle Ms kept ready for sysmon's hand-offs, so that sysmon never
// waits for a thread to be created (under ThreadSanitizer, or when the cores
// are busy, that takes tens of milliseconds, and sysmon would stop watching
// the Ps meanwhile).
//
// A separate thread (runtime::spare) makes them: sysmon only asks
// (ensure_spare_m). A spare starts in M state `spare`, without a P, and goes
// straight to the idle list; runtime::spares_coming counts it from the
// request until it gets there, so that a retake waits for a spare on its way
// rather than have handoffp create yet another thread. The first ones are
// made before sysmon starts, while the cores are still quiet.
#pragma once

namespace goro::rt {

struct runtime;

// Make the first spares (counted before they exist) and start the spare
// thread; stop and join it.
void spares_start(runtime* rt);
void spares_stop(runtime* rt);
// Ask the spare thread for idle Ms until spare_ms are idle or coming.
// Never blocks on thread creation.
void ensure_spare_m(runtime* rt);

}  // namespace goro::rt
