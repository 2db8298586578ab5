// The Linux futex: idle Ms (note), contended runtime locks (futex_lock),
// sysmon and threads blocked in a parker wait here.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

namespace goro::rt {

// Sleep while *addr == expected, at most `timeout` (relative; null: no limit).
// Returns 0 when woken (possibly spuriously), else the error: EAGAIN (the
// value had already changed), EINTR, ETIMEDOUT. Callers re-check their
// condition in a loop either way.
int futex_wait(std::atomic<std::uint32_t>* addr, std::uint32_t expected, const timespec* timeout) noexcept;
// Wake up to `count` sleepers on addr.
void futex_wake(std::atomic<std::uint32_t>* addr, int count) noexcept;

}  // namespace goro::rt
