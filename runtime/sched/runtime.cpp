// The runtime object's life, and keep_alive (threads outside the runtime
// that may still wake its fibers).
#include "sched/runtime.hpp"

#include <mutex>
#include <numeric>
#include <stdexcept>

#include "debug/checkdead.hpp"
#include "goro/runtime.hpp"
#include "sched/caller.hpp"
#include "sched/idle.hpp"

namespace goro::rt {

runtime::runtime(std::int32_t nprocs, std::size_t stack_size, const knob_set& k)
    : procs(nprocs), stacks(stack_size), knobs(k) {
  for (std::int32_t i = 0; i < procs; i++) {
    auto p = std::make_unique<P>();
    p->id = i;
    p->knobs = knobs;  // before any M runs: immutable from here on
    allp.push_back(std::move(p));
  }
  // Strides coprime with procs visit every P exactly once from any start.
  for (std::uint32_t i = 1; i <= static_cast<std::uint32_t>(procs); i++)
    if (std::gcd(i, static_cast<std::uint32_t>(procs)) == 1) coprimes.push_back(i);
  pidle_init(this);
}

std::int64_t live_fibers(const runtime* rt) noexcept {
  // relaxed: exact when every P is idle, as the sched lock (which each P
  // went idle under) orders their last writes before this read; else a hint.
  std::int64_t n = rt->live.load(std::memory_order_relaxed);
  for (const auto& p : rt->allp) n += p->live.load(std::memory_order_relaxed);
  return n < 0 ? 0 : n;
}

runtime::~runtime() {
  netpoll_close(this);
  free_all_gs(this);
}

}  // namespace goro::rt

namespace goro::detail {

using namespace goro::rt;

void* keep_alive_acquire() {
  const caller c = classify();
  if (c.kind != caller_kind::fiber && c.kind != caller_kind::blocking)
    throw std::logic_error("goro::keep_alive: must be created in a fiber of a goro runtime");
  // relaxed: checkdead reads it under rt->lock after every M went idle; the
  // creating fiber is running, so no M is idle-checking concurrently with a
  // 0 -> 1 change that matters.
  c.m->rt->external_refs.fetch_add(1, std::memory_order_relaxed);
  return c.m->rt;
}

void keep_alive_release(void* r) noexcept {
  runtime* rt = static_cast<runtime*>(r);
  std::lock_guard<futex_lock> l(rt->lock);
  // Under the lock so that checkdead sees either the reference or our
  // check below, never neither; and so that run(), which waits under the
  // lock for the count to reach zero, frees nothing before we are done.
  if (rt->external_refs.fetch_sub(1, std::memory_order_relaxed) == 1) checkdead(rt);
}

}  // namespace goro::detail
