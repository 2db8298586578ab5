// The one adapter between goro and Boost.Context (folly's
// BoostContextCompatibility.h plays this role there). Every context switch
// in the runtime goes through switch_context(_final) or
// switch_context_ontop(_final), which carry the sanitizer annotations; their
// fiber-side callers (sched/switch.cpp) move the per-thread state of
// fiber/thread_state.hpp (errno, the C++ exception-handling globals) with
// the fiber.
#pragma once

#include <boost/context/detail/fcontext.hpp>

#include <cstddef>

#include "goro/detail/config.hpp"

#if GORO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if GORO_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace goro::rt {

namespace bctx = boost::context::detail;
using bctx::fcontext_t;
using bctx::transfer_t;

// A place execution can be resumed: a fiber's stack or an M's scheduler
// stack (g0). Owned by whoever owns the fiber (see gstatus in sched/g.hpp).
// (Not goro::context, Go's cancellation context: runtime/context/.)
struct exec_context {
  fcontext_t fctx = nullptr;     // saved registers; valid while not running
  const void* stack_lo = nullptr;  // ASan: lowest address of this context's stack
  std::size_t stack_size = 0;      // ASan: its size
  void* tsan_fiber = nullptr;      // TSan: the fiber object of this context
};

// Prepare `c` to run `entry` on the stack whose top is `sp` (16-byte
// aligned) and whose usable size below sp is `size`.
inline void make_context(exec_context& c, void* sp, std::size_t size, void (*entry)(transfer_t)) {
  c.fctx = bctx::make_fcontext(sp, size, entry);
}

// The sanitizer side of every switch. Before leaving for `to`: tell ASan
// which stack we move to (fake_stack null: the running context ends, free
// its fake stack) and TSan which fiber runs now (flags 0: the switch
// synchronises). Once back: ASan, we are on our own stack again.
inline void annotate_leave([[maybe_unused]] const exec_context& to, [[maybe_unused]] void** fake_stack) {
#if GORO_ASAN
  __sanitizer_start_switch_fiber(fake_stack, to.stack_lo, to.stack_size);
#endif
#if GORO_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
}
inline void annotate_back([[maybe_unused]] void* fake_stack) {
#if GORO_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
}

// Switch from the running context to `to`, passing `data`. Returns when
// some context switches back here; the transfer carries the context that
// did (whose registers the caller must store) and its data. A fiber's side
// saves and restores its thread_state around this (sched/switch.cpp).
inline transfer_t switch_context(const exec_context& to, void* data) {
  void* fake_stack = nullptr;
  annotate_leave(to, &fake_stack);
  transfer_t t = bctx::jump_fcontext(to.fctx, data);
  annotate_back(fake_stack);
  return t;
}

// Switch to `to` as switch_context does, but first run fn on top of `to`'s
// stack: fn receives the transfer (the context just left, and `data`) and
// its result is what `to` resumes with. This is how a fiber switches
// straight to the next one: fn saves the old fiber's context and only then
// publishes it (sched/switch.cpp, switch_to_fiber and finish_direct). `to` may be
// a fresh context (but see fiber_main: Boost 1.74's entry trampoline drops
// fn's result).
inline transfer_t switch_context_ontop(const exec_context& to, void* data, transfer_t (*fn)(transfer_t)) {
  void* fake_stack = nullptr;
  annotate_leave(to, &fake_stack);
  transfer_t t = bctx::ontop_fcontext(to.fctx, data, fn);
  annotate_back(fake_stack);
  return t;
}

// Leave the running context for good (a fiber that finished).
[[noreturn]] inline void switch_context_final(const exec_context& to, void* data) {
  annotate_leave(to, nullptr);
  bctx::jump_fcontext(to.fctx, data);
  __builtin_unreachable();
}

// The same through ontop: fn runs on `to`'s stack first.
[[noreturn]] inline void switch_context_ontop_final(const exec_context& to, void* data, transfer_t (*fn)(transfer_t)) {
  annotate_leave(to, nullptr);
  bctx::ontop_fcontext(to.fctx, data, fn);
  __builtin_unreachable();
}

// First thing a fresh context does (the sanitizer half; its thread state is
// thread_slots::start's).
inline void context_started() {
#if GORO_ASAN
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
}

// Describe the calling thread's own stack (an M's g0) in `c`.
void init_thread_context(exec_context& c);

// Sanitizer bookkeeping for fiber contexts.
void* create_fiber_annotation() noexcept;
void destroy_fiber_annotation(void* f) noexcept;
// A fiber stack about to be reused: forget poisoning left by frames of the
// previous fiber that never returned.
void unpoison_stack(const void* lo, std::size_t size) noexcept;

}  // namespace goro::rt
