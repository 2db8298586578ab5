// The narrow interface the public templates (go, chan, run) use to reach the
// runtime. Nothing here is meant to be called by applications; the types
// behind these pointers live in runtime/ and are not installed.
#pragma once

#include <atomic>
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
  chan_recv_nil,
  select,
  select_no_cases,
  wait_group,
  semaphore,
  mutex,
  rwmutex_read,
  rwmutex_write,
  cond,
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

// Make a parked fiber runnable. Callable from any thread: from a fiber of
// the same runtime it goes to that P's runnext, otherwise to the global
// queue.
void ready(fiber* g) noexcept;

// --- parker: a blocked party, fiber or thread ------------------------------
// Channels and sync primitives queue parkers, so the same code serves a
// fiber (which parks, leaving its thread to run other fibers) and an OS
// thread outside any runtime, or a fiber inside goro::blocking (which
// blocks its thread on a futex). A parker lives on the blocked party's
// stack and is valid until parker_block returns.
struct parker {
  fiber* g = nullptr;  // null: block the thread
  // select: the first waker to move this from 0 to 1 owns the wake-up;
  // later ones skip this parker's other queue entries. acq_rel on the
  // winning CAS orders the winner's writes before the blocked party's
  // reads after it wakes (the wake itself also orders them).
  std::atomic<std::uint32_t> claimed{0};
  std::atomic<std::uint32_t> woken{0};  // threads: the futex word
  void* fired = nullptr;  // select: which queue entry won (written by the claimer)
};
// Set p.g to the calling fiber if it may park, else leave it null.
void parker_init(parker& p) noexcept;
// Block until parker_wake(p). `unlock(arg)` is called once the party can
// no longer miss the wake-up (for a fiber: after it switched out), so a
// waker that takes the lock `unlock` releases and finds p queued may wake it.
void parker_block(parker& p, wait_reason why, void (*unlock)(void* arg), void* arg);
// Wake a party blocked (or about to block) in parker_block. Exactly once.
void parker_wake(parker& p) noexcept;

// Timed waits. The party and its wakers race on p.claimed: a waker must win
// parker_claim (0 -> 1) before it may wake a timed party; the timeout
// claims 0 -> 2. Exactly one wins.
inline bool parker_claim(parker& p) noexcept {
  std::uint32_t open = 0;
  // acq_rel: the winner's writes precede the party's reads after waking.
  return p.claimed.compare_exchange_strong(open, 1, std::memory_order_acq_rel, std::memory_order_acquire);
}
// Like parker_block, but give up at `deadline` (now_ns() clock). Returns
// true when a waker claimed and woke the party, false on timeout (then the
// caller takes its entry off its queue, under its lock).
bool parker_block_until(parker& p, std::int64_t deadline, wait_reason why, void (*unlock)(void* arg), void* arg);

// --- timers ----------------------------------------------------------------
// Monotonic time (std::chrono::steady_clock) in nanoseconds.
std::int64_t now_ns() noexcept;

// A timer in a per-P heap (Go's runtime timer). `fire` runs once `when` has
// passed, on a scheduler thread, with the heap's lock held: it must be
// short and must not block (ready a fiber, try_send on a channel). With
// period > 0 the timer is re-armed after each fire (missed periods are
// skipped, like Go's ticker). `drop`, if set, runs for a timer still
// pending when its runtime ends.
struct timer_node {
  std::int64_t when = 0;
  std::int64_t period = 0;
  void (*fire)(timer_node* t, std::int64_t now) = nullptr;
  void (*drop)(timer_node* t) = nullptr;
  // Owned by the runtime: the heap holding it (an rt::P*) and its index
  // there, under that heap's lock.
  std::atomic<void*> heap{nullptr};
  std::atomic<void*> home{nullptr};  // the heap it was last pushed to (kept after it fires)
  std::int32_t index = -1;
};
// Add a timer that is in no heap to the calling thread's P's heap (any P's
// when called from outside a fiber with a P). Must be called inside a
// runtime: from a fiber, or from a fire callback.
void timer_start(timer_node* t);
// Remove a pending timer. Returns true if it was pending (and so will not
// fire); false if it already fired (for a one-shot), was never started, or
// was stopped. When it returns, `fire` is not running and will not run.
// Callable from any thread.
bool timer_stop(timer_node* t) noexcept;

// --- keep-alive --------------------------------------------------------------
// While one exists, the deadlock check is off for that runtime (a thread
// outside it may still wake its fibers). Returns an opaque handle.
void* keep_alive_acquire();
void keep_alive_release(void* rt) noexcept;

// Print "goro: fatal: where: what" and abort (misuse that cannot be reported
// by an exception because state would be left corrupt).
[[noreturn]] void fatal(const char* where, const char* what) noexcept;

}  // namespace goro::detail
