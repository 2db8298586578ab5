// Runtime start and end (goro::run, detail::run_main), procs, and creating
// Ms (Go's newm / mstart).
#pragma once

namespace goro::rt {

struct P;
struct runtime;

// Create an M (an OS thread) that starts on p (null: a spare, which goes
// idle at once), spinning if the caller counted it in nmspinning. Does
// nothing once the runtime is done. Never called with the sched lock held:
// creating a thread can take long.
void newm(runtime* rt, P* p, bool spinning);

}  // namespace goro::rt
