// Which threads can still wake a fiber, for the deadlock check.
//
// A thread outside every runtime (not an M) that uses a channel or a sync
// object may later wake a fiber blocked on it, so from its first such use
// until it exits it counts as a possible waker and the deadlock check stays
// quiet. Every channel and sync operation calls note_thread_use() first:
// on a thread whose role is known, that is one load of a thread-local byte
// and a branch taken the same way every time.
//
// The role is read where the calling code runs: an M's threads are all
// `runtime`, so a fiber, whichever thread it resumes on, reads `runtime`.
// The variable is constinit (no initialisation guard), so the load is a
// thread-pointer-relative access in an executable; in position-independent
// code the compiler may reuse a thread-local address computed before a
// switch, which then reads the previous M's byte, also `runtime`, and that
// M's thread lives until its runtime ends.
#pragma once

#include <cstdint>

namespace goro::detail {

enum class thread_role : std::uint8_t {
  unknown,  // has not used a goro object yet (or has left a runtime)
  outside,  // a thread outside the runtimes that has used one: counted
  runtime,  // an M of some runtime (the scheduler sets it)
};

extern constinit thread_local thread_role this_thread_role;

// The slow half: classify the calling thread and, if it is outside every
// runtime, count it until it exits.
void note_outside_thread() noexcept;

inline void note_thread_use() noexcept {
  if (__builtin_expect(this_thread_role == thread_role::unknown, 0)) note_outside_thread();
}

}  // namespace goro::detail
