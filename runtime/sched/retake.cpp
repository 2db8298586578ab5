// The retake protocol's out-of-line halves (the protocol is in retake.hpp).
#include "sched/retake.hpp"

namespace goro::rt {

P* enter_runtime_slow(M* m, P* p) noexcept {
  const std::uint64_t mine = m->p_gen << 2;
  std::uint64_t o = p->own.load(std::memory_order_acquire);
  for (;;) {
    if (o == mine) return p;
    if (o == (mine | own_trying)) {
      // sysmon is deciding: cancel its attempt. acq_rel: a lost race leaves
      // o = taken, with sysmon's writes visible.
      if (p->own.compare_exchange_strong(o, mine, std::memory_order_acq_rel, std::memory_order_acquire)) return p;
      continue;
    }
    // Taken (or moved on to another generation): not ours any more.
    m->p = nullptr;
    return nullptr;
  }
}

bool try_take_p(P* p, M* m, std::uint64_t own) noexcept {
  if (m == nullptr) return false;
  std::uint64_t o = own;
  // seq_cst: the store half of sysmon's side of the Dekker pair.
  if (!p->own.compare_exchange_strong(o, own | own_trying, std::memory_order_seq_cst)) return false;
  fence_heavy();
  // acquire: pairs with leave_runtime's release store.
  if (m->in_rt.load(std::memory_order_acquire)) {
    o = own | own_trying;
    p->own.compare_exchange_strong(o, own, std::memory_order_relaxed);  // fails if the M cancelled first
    return false;
  }
  o = own | own_trying;
  return p->own.compare_exchange_strong(o, own | own_taken, std::memory_order_acq_rel);
}

}  // namespace goro::rt
