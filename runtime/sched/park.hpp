// Parking and readying fibers (Go's gopark / goready). The wait layer
// (wait/parker.cpp) builds on these; so do sleep and the sync primitives.
#pragma once

#include "goro/detail/wait.hpp"

namespace goro::rt {

struct G;

// Park the calling fiber (caller_kind::fiber only; fatal otherwise).
// `unlock(arg)` runs after the fiber has fully switched out (on g0, or on
// top of the next fiber's stack), so whoever wakes it, after taking the
// lock that `unlock` releases, can never resume it before it has stopped.
void park(detail::wait_reason why, void (*unlock)(void* arg), void* arg);

// Make a parked fiber runnable. Callable from any thread: from a fiber of
// the same runtime it goes to that P's runnext; from g0 with a P to that P's
// ring; otherwise to the global queue.
void ready(G* g) noexcept;

}  // namespace goro::rt
