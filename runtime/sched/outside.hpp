// Threads outside the runtimes that may still wake fibers, and the list of
// live runtimes to re-check when one of them exits (include/goro/detail/
// thread_role.hpp has the rule).
//
// Process-wide: a channel does not know its runtime, so a thread that used
// one counts for every runtime. The deadlock check of each runtime stays
// quiet while the count is above zero; the last such thread to exit re-runs
// it on every live runtime.
#pragma once

#include <cstdint>

namespace goro::rt {

struct runtime;
struct M;

// Outside threads that have used a goro object and not exited. Read by
// checkdead under the runtime's lock (relaxed: a thread's exit decrements
// it before taking that lock to re-check, so a check that misses the
// decrement is followed by one that sees it).
std::int64_t outside_threads() noexcept;

// minit / mexit: the thread becomes an M (it no longer counts as outside
// while it is one) and stops being one (it counts again if it did before).
void enter_runtime_role(M* m) noexcept;
void leave_runtime_role(M* m) noexcept;

// run() adds its runtime before any fiber runs and removes it before the
// runtime is destroyed; an exiting outside thread re-checks the listed ones.
void add_live_runtime(runtime* rt) noexcept;
void remove_live_runtime(runtime* rt) noexcept;
// Call fn(rt, arg) for every live runtime, holding the list's lock (a
// runtime is not freed before it leaves the list). Also gives each runtime
// its number (runtime::id) when it joins.
void for_each_live_runtime(void (*fn)(runtime* rt, void* arg), void* arg);

}  // namespace goro::rt
