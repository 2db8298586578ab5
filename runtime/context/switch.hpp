// The one adapter between goro and Boost.Context (folly's
// BoostContextCompatibility.h plays this role there). Every context switch
// in the runtime goes through switch_context / switch_context_final, which
// carry the sanitizer annotations and move the per-context thread state
// (errno, the C++ exception-handling globals) with the context.
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
// stack (g0). Owned by whoever owns the fiber (see gstatus in g.hpp).
struct context {
  fcontext_t fctx = nullptr;     // saved registers; valid while not running
  const void* stack_lo = nullptr;  // ASan: lowest address of this context's stack
  std::size_t stack_size = 0;      // ASan: its size
  void* tsan_fiber = nullptr;      // TSan: the fiber object of this context
};

// Per-context thread state that the C library and the C++ runtime keep in
// thread-locals. A fiber may leave one thread and resume on another, so the
// state is saved on switch-out and restored on switch-in. The addresses are
// taken through out-of-line functions the compiler cannot treat as constant
// (glibc declares __errno_location `const`, so a caller may otherwise reuse
// the previous thread's address after the switch).
struct thread_state {
  int err;
  void* eh_caught;
  unsigned eh_uncaught;
};
thread_state save_thread_state() noexcept;
void restore_thread_state(const thread_state& s) noexcept;
void reset_thread_state() noexcept;

// Prepare `c` to run `entry` on the stack whose top is `sp` (16-byte
// aligned) and whose usable size below sp is `size`.
inline void make_context(context& c, void* sp, std::size_t size, void (*entry)(transfer_t)) {
  c.fctx = bctx::make_fcontext(sp, size, entry);
}

// Switch from the running context to `to`, passing `data`. Returns when
// some context switches back here; the transfer carries the context that
// did (whose registers the caller must store) and its data.
inline transfer_t switch_context(const context& to, void* data) {
  thread_state ts = save_thread_state();
#if GORO_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, to.stack_lo, to.stack_size);
#endif
#if GORO_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 0);  // flags 0: the switch synchronises
#endif
  transfer_t t = bctx::jump_fcontext(to.fctx, data);
#if GORO_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
  restore_thread_state(ts);
  return t;
}

// Like switch_context, for the scheduler context (g0): g0 keeps no errno or
// exception state of its own worth carrying, so it skips saving them.
inline transfer_t switch_context_from_g0(const context& to, void* data) {
#if GORO_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, to.stack_lo, to.stack_size);
#endif
#if GORO_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
  transfer_t t = bctx::jump_fcontext(to.fctx, data);
#if GORO_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
  return t;
}

// Leave the running context for good (a fiber that finished).
[[noreturn]] inline void switch_context_final(const context& to, void* data) {
#if GORO_ASAN
  __sanitizer_start_switch_fiber(nullptr, to.stack_lo, to.stack_size);  // frees our fake stack
#endif
#if GORO_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
  bctx::jump_fcontext(to.fctx, data);
  __builtin_unreachable();
}

// First thing a fresh context does.
inline void context_started() {
#if GORO_ASAN
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
  reset_thread_state();
}

// Describe the calling thread's own stack (an M's g0) in `c`.
void init_thread_context(context& c);

// Sanitizer bookkeeping for fiber contexts.
void* create_fiber_annotation() noexcept;
void destroy_fiber_annotation(void* f) noexcept;
// A fiber stack about to be reused: forget poisoning left by frames of the
// previous fiber that never returned.
void unpoison_stack(const void* lo, std::size_t size) noexcept;

}  // namespace goro::rt
