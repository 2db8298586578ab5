// Creating fibers (Go's newproc; the free lists of dead Gs are g.cpp).
//
// The spawn fast path makes no system call and no heap allocation: a dead G
// with its stack comes from the P's free list, the callable is constructed
// at the top of that stack, the context is re-made, and the G goes to the
// P's runnext.
#include "sched/spawn.hpp"

#include <mutex>
#include <stdexcept>

#include "goro/detail/spawn.hpp"
#include "sched/caller.hpp"
#include "sched/g.hpp"
#include "sched/idle.hpp"
#include "sched/m.hpp"
#include "sched/p.hpp"
#include "sched/random.hpp"
#include "sched/retake.hpp"
#include "sched/runtime.hpp"
#include "sched/schedule.hpp"
#include "sched/switch.hpp"
#include "sched/syscall.hpp"

#include "trace/trace.hpp"

namespace goro::rt {

namespace {

constexpr std::uint64_t goid_batch = 16;

// Spawn policy. When its P has nothing else queued, go() puts the new
// fiber in runnext and returns (Go's "help first"): an idle P may take it
// while the spawner goes on, so a loop that spawns short fibers becomes a
// pipeline, the spawner on one core and the fibers on another. When the P
// already has a fiber queued, the spawner hands its P to the new fiber at
// once and waits on the P's continuation deque ("work first", as in Cilk;
// work_deque.hpp): the new fiber runs while its lines are still in this
// core's cache, the backlog (so the number of live stacks) stays bounded
// however fast a loop spawns, stacks are reused while still in cache, and a
// thief that takes the waiting spawner takes the larger share of a fork-join
// tree. Fresh stack pages are the dominant cost otherwise (first-touch page
// faults; docs/benchmarks.md measures backlogs of 1 and 64). The knob
// spawn_handoff (sched/knobs.hpp) turns the work-first half off, so that a
// study can measure it: every new fiber then goes to runnext.
constexpr std::uint32_t spawn_handoff_backlog = 1;

std::uint64_t next_goid(runtime* rt, P* p) {
  if (p == nullptr) return rt->goidgen.fetch_add(1, std::memory_order_relaxed) + 1;  // unique is all we need
  if (p->goid_next == p->goid_end) {
    p->goid_next = rt->goidgen.fetch_add(goid_batch, std::memory_order_relaxed) + 1;
    p->goid_end = p->goid_next + goid_batch;
  }
  return p->goid_next++;
}

}  // namespace

void prepare_fiber(runtime* rt, P* p, G* g, void* top) {
  g->goid.store(next_goid(rt, p), std::memory_order_relaxed);
  g->trace_id = 0;  // a new fiber: its creation site is in no trace yet (trace/trace.hpp)
  // The stack starts below `top` (the callable, or the G), 64-byte aligned.
  char* sp = static_cast<char*>(top);
  sp = reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(sp) & ~std::uintptr_t(63));
  const std::size_t size = static_cast<std::size_t>(sp - g->stk.lo());
  unpoison_stack(g->stk.lo(), size);  // ASan: the previous fiber's dead frames
  make_context(g->ctx, sp, size, &fiber_main);
  g->fresh = true;
  g->ctx.stack_lo = g->stk.lo();
  g->ctx.stack_size = size;
  // The spawner is itself live, so the count is not 0 and cannot be seen
  // as 0 before this increment (it is summed only with every P idle).
  if (p != nullptr) {
    p->live.store(p->live.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // the holder's
    bump(p->ctr.spawned);
  } else {
    rt->live.fetch_add(1, std::memory_order_relaxed);
    rt->spawned_nop.fetch_add(1, std::memory_order_relaxed);  // a count
  }
  casgstatus(g, gstatus::dead, gstatus::runnable, "newproc");
}

}  // namespace goro::rt

namespace goro::detail {

using namespace goro::rt;

spawn_slot spawn_prepare(std::size_t size, std::size_t align, std::size_t stack_size) {
  const caller c = classify();
  if (c.kind != caller_kind::fiber && c.kind != caller_kind::blocking)
    throw std::logic_error("goro::go: called outside a goro runtime (go must be called from a fiber)");
  M* m = c.m;
  runtime* rt = m->rt;
  const std::size_t ss = stack_size ? normalize_stack_size(stack_size) : rt->stacks.default_usable();
  if (size > ss / 2)
    throw std::length_error("goro::go: the callable and its arguments do not fit in half the fiber's stack");
  // Claim the P against sysmon (retake.hpp). If sysmon took it while we
  // ran, get one back first (at most procs fibers run at once); inside
  // goro::blocking use the runtime's shared lists.
  P* p = enter_runtime(m);
  if (c.kind == caller_kind::blocking) {
    p = nullptr;
  } else if (p == nullptr) {
    G* self = c.g;
    rejoin(m, self);
    m = current_m();
    p = enter_runtime(m);
  }
  G* g;
  try {
    g = gfget(rt, p, ss);
  } catch (...) {
    leave_runtime(m);
    throw;
  }
  leave_runtime(m);
  if (align < 16) align = 16;
  auto top = reinterpret_cast<std::uintptr_t>(g);
  auto storage = (top - size) & ~(std::uintptr_t(align) - 1);
  // ASan: the callable goes where the previous fiber's first frames were,
  // which may have left their variables poisoned (prepare_fiber unpoisons
  // the rest of the stack, below the callable).
  unpoison_stack(reinterpret_cast<void*>(storage), static_cast<std::size_t>(top - storage));
  g->entry_arg = reinterpret_cast<void*>(storage);
  return {g, g->entry_arg};
}

void spawn_commit(fiber* g, void (*entry)(void* storage), const std::source_location& where) noexcept {
  // Re-read the M: constructing the callable ran user code, which may
  // have switched (and migrated) this fiber.
  const caller c = classify();
  M* m = c.m;
  runtime* rt = g->rt;
  g->entry = entry;
  g->created_at.store(where, std::memory_order_relaxed);
  G* self = c.g;
  P* p = enter_runtime(m);
  if (c.kind == caller_kind::blocking) p = nullptr;
  prepare_fiber(rt, p, g, g->entry_arg);
  if (trace::enabled()) trace::spawned(m, g);
  // No hand-off from a locked fiber: its M would run the new one; nor with
  // the spawn_handoff knob off (then the new fiber waits in runnext).
  if (p && p->runq.size() >= spawn_handoff_backlog && p->knobs.spawn_handoff && self->lockedm == nullptr &&
      !randomize_no_handoff(m)) {
    m->action = m_action::handoff;
    if (p->knobs.steal) wakep(rt);  // the backlog is work for idle Ps (if they may steal)
    if (__builtin_expect(p->knobs.direct_switch, 1)) {
      switch_to_fiber(m, self, g, true);  // handle_action queues self on the P's deque
    } else {
      // The direct_switch knob off: through g0, which queues self and then
      // runs g at once (execute).
      m->handoff_next = g;
      switch_to_g0(m, self);
    }
    return;
  }
  if (p) {
    runq_put(p, g, true);
  } else {
    // No P of our own (inside goro::blocking, or sysmon took it).
    {
      std::lock_guard<futex_lock> l(rt->lock);
      globrunq_put(rt, g);
    }
    if (c.kind == caller_kind::fiber) {
      wakep(rt);
      rejoin(m, self);  // sysmon took our P: get one back before going on
      m = current_m();
      if (m->in_rt.load(std::memory_order_relaxed)) leave_runtime(m);
      return;
    }
  }
  // A new fiber in our runnext is work for an idle P, if it may steal it.
  if (p == nullptr || p->knobs.steal) wakep(rt);
  leave_runtime(m);
}

void spawn_abort(fiber* g) noexcept {
  const caller c = classify();
  M* m = c.m;
  P* p = enter_runtime(m);
  if (c.kind == caller_kind::blocking) p = nullptr;
  gfput(g->rt, p, g);
  leave_runtime(m);
}

}  // namespace goro::detail
