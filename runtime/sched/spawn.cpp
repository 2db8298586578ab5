// Creating fibers (Go's newproc / gfget / gfput).
//
// The spawn fast path makes no system call and no heap allocation: a dead G
// with its stack comes from the P's free list, the callable is constructed
// at the top of that stack, the context is re-made, and the G goes to the
// P's runnext.
#include <mutex>
#include <new>
#include <stdexcept>

#include "debug/fatal.hpp"
#include "debug/resources.hpp"
#include "goro/detail/config.hpp"
#if GORO_ASAN
#include <sanitizer/lsan_interface.h>
#endif
#include "sched/retake.hpp"
#include "sched/sched.hpp"

namespace goro::rt {

namespace {

constexpr std::int32_t gfree_local_max = 64;    // spill to the global list at this many
constexpr std::int32_t gfree_local_keep = 32;   // ... down to this many
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
// tree. Fresh stack pages are the dominant cost otherwise (a first-touch
// page fault costs 15-20 us on this project's VM).
//
// Measured (docs/benchmarks.md): handing off from a backlog of 1 instead
// of 64 made spawn_join 3-4x faster (~120 vs ~450 ns per fiber at procs=2)
// and fib ~20% faster; skynet, the channel workloads and timers did not move.
constexpr std::uint32_t spawn_handoff_backlog = 1;

G* new_g(runtime* rt, std::size_t stack_size) {
  stack s = rt->stacks.allocate(stack_size);
  // The G lives at the very top of its stack mapping.
  char* top = s.hi();
  auto* g = ::new (top - sizeof(G)) G();
  static_assert(sizeof(G) % alignof(G) == 0);
  g->stk = s;
  g->rt = rt;
  g->ctx.tsan_fiber = create_fiber_annotation();
  resources::fibers.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<mutex> l(rt->allglock);
  g->allnext = rt->allg;
  if (rt->allg) rt->allg->allprev = g;
  rt->allg = g;
  return g;
}

void destroy_g(runtime* rt, G* g, bool unlink) {
  if (unlink) {
    std::lock_guard<mutex> l(rt->allglock);
    if (g->allprev) g->allprev->allnext = g->allnext; else rt->allg = g->allnext;
    if (g->allnext) g->allnext->allprev = g->allprev;
  }
  destroy_fiber_annotation(g->ctx.tsan_fiber);
  stack s = g->stk;
  g->~G();
  rt->stacks.release(s);
  resources::fibers.fetch_sub(1, std::memory_order_relaxed);
}

std::uint64_t next_goid(runtime* rt, P* p) {
  if (p == nullptr) return rt->goidgen.fetch_add(1, std::memory_order_relaxed) + 1;  // unique is all we need
  if (p->goid_next == p->goid_end) {
    p->goid_next = rt->goidgen.fetch_add(goid_batch, std::memory_order_relaxed) + 1;
    p->goid_end = p->goid_next + goid_batch;
  }
  return p->goid_next++;
}

}  // namespace

G* gfget(runtime* rt, P* p, std::size_t stack_size) {
  if (stack_size == rt->stacks.default_usable()) {
    // relaxed hint; the list itself is read under gflock.
    if (p && p->gfree == nullptr && rt->gfree_nonempty.load(std::memory_order_relaxed)) {
      std::lock_guard<mutex> l(rt->gflock);
      while (p->ngfree < gfree_local_keep && rt->gfree) {
        G* g = rt->gfree;
        rt->gfree = g->schedlink;
        rt->ngfree--;
        g->schedlink = p->gfree;
        p->gfree = g;
        p->ngfree++;
      }
      rt->gfree_nonempty.store(rt->gfree != nullptr, std::memory_order_relaxed);
    }
    if (p && p->gfree) {
      G* g = p->gfree;
      p->gfree = g->schedlink;
      p->ngfree--;
      g->schedlink = nullptr;
      return g;
    }
    if (!p) {
      std::lock_guard<mutex> l(rt->gflock);
      if (G* g = rt->gfree) {
        rt->gfree = g->schedlink;
        rt->ngfree--;
        rt->gfree_nonempty.store(rt->gfree != nullptr, std::memory_order_relaxed);
        g->schedlink = nullptr;
        return g;
      }
    }
  }
  return new_g(rt, stack_size);
}

void gfput(runtime* rt, P* p, G* g) {
  GORO_CHECK(g->status.load(std::memory_order_relaxed) == gstatus::dead, "gfput of a live fiber");
  if (g->stk.usable != rt->stacks.default_usable()) {
    destroy_g(rt, g, true);
    return;
  }
  g->entry = nullptr;
  g->entry_arg = nullptr;
  if (p == nullptr) {
    std::lock_guard<mutex> l(rt->gflock);
    g->schedlink = rt->gfree;
    rt->gfree = g;
    rt->ngfree++;
    rt->gfree_nonempty.store(true, std::memory_order_relaxed);
    return;
  }
  g->schedlink = p->gfree;
  p->gfree = g;
  if (++p->ngfree >= gfree_local_max) {
    std::lock_guard<mutex> l(rt->gflock);
    while (p->ngfree > gfree_local_keep) {
      G* x = p->gfree;
      p->gfree = x->schedlink;
      p->ngfree--;
      x->schedlink = rt->gfree;
      rt->gfree = x;
      rt->ngfree++;
    }
    rt->gfree_nonempty.store(true, std::memory_order_relaxed);
  }
}

void prepare_fiber(runtime* rt, P* p, G* g, void* top) {
  g->goid = next_goid(rt, p);
  // The stack starts below `top` (the callable, or the G), 64-byte aligned.
  char* sp = static_cast<char*>(top);
  sp = reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(sp) & ~std::uintptr_t(63));
  const std::size_t size = static_cast<std::size_t>(sp - g->stk.lo());
  unpoison_stack(g->stk.lo(), size);  // ASan: the previous fiber's dead frames
  make_context(g->ctx, sp, size, &fiber_main);
  g->fresh = true;
  g->ctx.stack_lo = g->stk.lo();
  g->ctx.stack_size = size;
  // relaxed: the spawner is itself live, so the count cannot reach zero
  // before this increment; RMWs on one atomic are totally ordered anyway.
  rt->live.fetch_add(1, std::memory_order_relaxed);
  casgstatus(g, gstatus::dead, gstatus::runnable, "newproc");
}

void free_all_gs(runtime* rt) {
  // After a deadlock in throw mode, the blocked fibers were never unwound:
  // keep their stacks (and so whatever their frames point to) alive and
  // visible to LeakSanitizer.
  if (rt->deadlocked) rt->stacks.keep_arenas();
  G* g = rt->allg;
  while (g) {
    G* next = g->allnext;
    if (g->status.load(std::memory_order_relaxed) == gstatus::dead) {
      destroy_g(rt, g, false);
    } else {
#if GORO_ASAN
      __lsan_register_root_region(g->stk.lo(), g->stk.usable);
#endif
    }
    g = next;
  }
  rt->allg = nullptr;
  rt->gfree = nullptr;
}

}  // namespace goro::rt

namespace goro::detail {

using namespace goro::rt;

spawn_slot spawn_prepare(std::size_t size, std::size_t align, std::size_t stack_size) {
  M* m = current_m();
  if (m == nullptr || m->curg == nullptr)
    throw std::logic_error("goro::go: called outside a goro runtime (go must be called from a fiber)");
  runtime* rt = m->rt;
  const std::size_t ss = stack_size ? normalize_stack_size(stack_size) : rt->stacks.default_usable();
  if (size > ss / 2)
    throw std::length_error("goro::go: the callable and its arguments do not fit in half the fiber's stack");
  // Claim the P against sysmon (retake.hpp). If sysmon took it while we
  // ran, get one back first (at most procs fibers run at once); inside
  // goro::blocking use the runtime's shared lists.
  P* p = enter_runtime(m);
  if (m->curg->status.load(std::memory_order_relaxed) != gstatus::running) {
    p = nullptr;
  } else if (p == nullptr) {
    G* self = m->curg;
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
  g->entry_arg = reinterpret_cast<void*>(storage);
  return {g, g->entry_arg};
}

void spawn_commit(fiber* g, void (*entry)(void* storage), const std::source_location& where) noexcept {
  // Re-read the M: constructing the callable ran user code, which may
  // have switched (and migrated) this fiber.
  M* m = current_m();
  runtime* rt = g->rt;
  g->entry = entry;
  g->created_at = where;
  G* self = m->curg;
  P* p = enter_runtime(m);
  if (self->status.load(std::memory_order_relaxed) != gstatus::running) p = nullptr;  // inside goro::blocking
  prepare_fiber(rt, p, g, g->entry_arg);
  if (p && p->runq.size() >= spawn_handoff_backlog) {
    m->action = m_action::handoff;
    wakep(rt);  // the backlog is work for idle Ps
    switch_to_fiber(m, self, g, true);  // handle_action queues self on the P's deque
    return;
  }
  if (p) {
    runq_put(p, g, true);
  } else {
    // No P of our own (inside goro::blocking, or sysmon took it).
    {
      std::lock_guard<mutex> l(rt->lock);
      globrunq_put(rt, g);
    }
    if (self->status.load(std::memory_order_relaxed) == gstatus::running) {
      wakep(rt);
      rejoin(m, self);  // sysmon took our P: get one back before going on
      m = current_m();
      if (m->in_rt.load(std::memory_order_relaxed)) leave_runtime(m);
      return;
    }
  }
  wakep(rt);
  leave_runtime(m);
}

void spawn_abort(fiber* g) noexcept {
  M* m = current_m();
  P* p = enter_runtime(m);
  if (m->curg->status.load(std::memory_order_relaxed) != gstatus::running) p = nullptr;
  gfput(g->rt, p, g);
  leave_runtime(m);
}

}  // namespace goro::detail
