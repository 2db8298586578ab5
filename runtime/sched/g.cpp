// G allocation, free lists and status names (Go's malg / gfget / gfput).
#include "sched/g.hpp"

#include <mutex>
#include <new>

#include "debug/fatal.hpp"
#include "debug/resources.hpp"
#include "goro/detail/config.hpp"
#if GORO_ASAN
#include <sanitizer/lsan_interface.h>
#endif
#include "sched/fiber_local.hpp"
#include "sched/p.hpp"
#include "sched/runtime.hpp"

namespace goro::rt {

const char* to_string(gstatus s) noexcept {
  switch (s) {
    case gstatus::dead: return "dead";
    case gstatus::runnable: return "runnable";
    case gstatus::running: return "running";
    case gstatus::waiting: return "waiting";
    case gstatus::syscall: return "blocking call";
  }
  return "?";
}

void bad_gstatus(const G* g, gstatus seen, gstatus from, gstatus to, const char* fn) noexcept {
  fatalf(fn, "fiber %llu: bad status transition %s -> %s (status is %s)",
         static_cast<unsigned long long>(goid_of(g)), to_string(from), to_string(to), to_string(seen));
}

namespace {

constexpr std::int32_t gfree_local_max = 64;    // spill to the global list at this many
constexpr std::int32_t gfree_local_keep = 32;   // ... down to this many

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
  std::lock_guard<futex_lock> l(rt->allglock);
  g->allnext = rt->allg;
  if (rt->allg) rt->allg->allprev = g;
  rt->allg = g;
  return g;
}

void destroy_g(runtime* rt, G* g, bool unlink) {
  if (unlink) {
    std::lock_guard<futex_lock> l(rt->allglock);
    if (g->allprev) g->allprev->allnext = g->allnext; else rt->allg = g->allnext;
    if (g->allnext) g->allnext->allprev = g->allprev;
  }
  destroy_fiber_annotation(g->ctx.tsan_fiber);
  free_fiber_local_slots(g);
  stack s = g->stk;
  g->~G();
  rt->stacks.release(s);
  resources::fibers.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace

G* gfget(runtime* rt, P* p, std::size_t stack_size) {
  if (stack_size == rt->stacks.default_usable()) {
    // relaxed hint; the list itself is read under gflock.
    if (p && p->gfree == nullptr && rt->gfree_nonempty.load(std::memory_order_relaxed)) {
      std::lock_guard<futex_lock> l(rt->gflock);
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
      std::lock_guard<futex_lock> l(rt->gflock);
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
    std::lock_guard<futex_lock> l(rt->gflock);
    g->schedlink = rt->gfree;
    rt->gfree = g;
    rt->ngfree++;
    rt->gfree_nonempty.store(true, std::memory_order_relaxed);
    return;
  }
  g->schedlink = p->gfree;
  p->gfree = g;
  if (++p->ngfree >= gfree_local_max) {
    std::lock_guard<futex_lock> l(rt->gflock);
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
