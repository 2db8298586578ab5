// Operations on the calling fiber.
#pragma once

#include <cstdint>

namespace goro::this_fiber {

// Give up the processor (Go's runtime.Gosched): the calling fiber goes to
// the back of its P's local run queue, and the fibers queued there run
// first. Fibers that overflowed to the global queue (more runnable fibers
// than a local queue holds, 256) get a turn at least every 61 scheduling
// decisions, so nobody starves, but beyond that size the order is not
// round-robin.
// Throws std::logic_error when the caller is not a fiber.
void yield();

// The calling fiber's id: unique within its runtime, starting at 1 for the
// main fiber. 0 when the caller is not a fiber.
std::uint64_t id() noexcept;

// A cheap check for long computations: yields when sysmon has seen this
// fiber run for 10 ms while other fibers wait for its P. Without it such a
// fiber is not stopped either; sysmon then hands its P to another thread
// (docs/design.md), which costs a thread switch and, briefly, one more
// running thread. A no-op outside a fiber and inside goro::blocking.
void preempt_point() noexcept;

// Go's runtime.LockOSThread / UnlockOSThread (Go 1.10+ semantics).
//
// lock_os_thread: from now on the calling fiber runs only on the thread it
// runs on now, and that thread runs no other fiber. Use it for code that
// keeps state in the thread (thread_local caches, thread-affine libraries,
// per-thread kernel settings). While the fiber blocks (channel, mutex,
// sleep, ...) its thread sleeps and hands its processor to another thread,
// so the other fibers keep running; when the fiber is woken it is handed
// back to its own thread. Each fiber switch of a locked fiber costs a
// thread wake-up, so lock only where needed.
//
// Calls nest: the fiber stays locked until unlock_os_thread has been
// called as many times as lock_os_thread. unlock_os_thread on a fiber that
// is not locked does nothing (as in Go).
//
// A fiber that ends while locked takes its thread with it: the thread
// exits, since it may carry changes the fiber made. The thread that called
// goro::run never exits: it is set aside (runs no fiber) until every fiber
// has finished, then run returns as usual.
//
// Both throw std::logic_error outside a fiber (a plain thread, or the
// scheduler); inside goro::blocking they work as in the fiber's own code.
void lock_os_thread();
void unlock_os_thread();

}  // namespace goro::this_fiber
