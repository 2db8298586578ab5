// The narrow interface the public templates (go, chan, run) use to reach the
// runtime. Nothing here is meant to be called by applications; the types
// behind these pointers live in runtime/ and are not installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <source_location>

namespace goro {
struct options;
}

namespace goro::rt {
struct G;  // a fiber
}

namespace goro::detail {

using fiber = rt::G;

// Why a fiber is parked; shown in deadlock reports.
enum class wait_reason : std::uint8_t {
  none,
  chan_send,
  chan_recv,
  chan_send_nil,
  wait_group,
  semaphore,
  select,
  mutex,
  sleep,
  io,
};
const char* to_string(wait_reason r) noexcept;

// --- run -------------------------------------------------------------------
// Start a runtime on the calling thread, run fn(arg) as the main fiber, and
// return once every fiber has finished. Throws std::logic_error when called
// from inside a runtime.
void run_main(const options& opts, void (*fn)(void*), void* arg, std::source_location where);

// --- spawn -----------------------------------------------------------------
// Spawning is two-phase so the callable can be constructed straight into the
// new fiber's stack (no heap allocation): prepare reserves a fiber and
// `size` bytes of storage, the caller constructs the callable there, then
// commit makes the fiber runnable (or abort returns it unused).
struct spawn_slot {
  fiber* g;
  void* storage;
};
// Throws std::logic_error outside a fiber, std::length_error when the
// callable does not fit the stack, std::bad_alloc when no stack can be mapped.
spawn_slot spawn_prepare(std::size_t size, std::size_t align, std::size_t stack_size);
void spawn_commit(fiber* g, void (*entry)(void* storage), const std::source_location& where) noexcept;
void spawn_abort(fiber* g) noexcept;

// --- park / ready ----------------------------------------------------------
// The calling fiber; throws std::logic_error when the caller is not a fiber.
fiber* current_fiber();
// The calling fiber or nullptr.
fiber* current_fiber_or_null() noexcept;
std::uint64_t fiber_id(const fiber* g) noexcept;

// Park the calling fiber. `unlock(arg)` runs on the scheduler stack after the
// fiber has fully switched out, so whoever wakes it (after taking the lock
// that `unlock` releases) can never resume it before it has stopped.
void park(wait_reason why, void (*unlock)(void* arg), void* arg);

// Make a parked fiber runnable. Callable from a fiber of the same runtime.
void ready(fiber* g) noexcept;

// Print "goro: fatal: where: what" and abort (misuse that cannot be reported
// by an exception because state would be left corrupt).
[[noreturn]] void fatal(const char* where, const char* what) noexcept;

}  // namespace goro::detail
