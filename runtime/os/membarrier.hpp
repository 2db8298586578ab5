// An asymmetric fence pair on membarrier(2), for the retake protocol
// (sched/retake.hpp): the side that runs on every runtime call pays only a
// compiler barrier (fence_light), the rare side a process-wide barrier
// (fence_heavy, MEMBARRIER_CMD_PRIVATE_EXPEDITED). Where membarrier is
// unavailable, or under ThreadSanitizer (which does not model it), both are
// seq_cst fences.
#pragma once

#include <atomic>

namespace goro::rt {

// Whether fence_heavy may use membarrier. Set once per process by
// init_membarrier, before any runtime thread reads it; a fact about the
// kernel, not scheduler state.
extern bool membarrier_ok;
void init_membarrier() noexcept;

void fence_heavy() noexcept;

inline void fence_light() noexcept {
  if (__builtin_expect(membarrier_ok, 1)) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

}  // namespace goro::rt
