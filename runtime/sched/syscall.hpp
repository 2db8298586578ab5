// Blocking calls (Go's entersyscall / exitsyscall): goro::blocking, and a
// fiber getting a P back after sysmon took its own (rejoin).
//
// enter_blocking keeps the P, marked (P state syscall, M state syscall), so
// that a short call costs a few plain stores and no lock; sysmon takes the P and hands it to
// another M if the call lasts (sysmon.cpp). exit_blocking takes the old P
// back if sysmon did not take it (fast path), else the old P if it went
// idle, else any idle P, else the fiber waits on the global queue and its
// M goes idle. goro::detail::enter_blocking / exit_blocking (blocking.hpp)
// are the public halves.
#pragma once

namespace goro::rt {

struct G;
struct M;

// The fiber g, running on m in the runtime, found its P taken by sysmon:
// get an idle P, or queue g and let m go idle, so that no more than procs
// fibers run user code. Returns on an M with a P; if it switched, that M
// left the runtime (call enter_runtime again).
void rejoin(M* m, G* g);

}  // namespace goro::rt
