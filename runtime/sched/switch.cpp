// Switching between fibers and g0 (docs/design.md, "Switching"). Every
// switch saves the fiber's per-thread state (fiber/thread_state.hpp) before
// and restores it, into whichever thread resumed it, after.
#include "sched/switch.hpp"

#include "debug/panic.hpp"
#include "goro/detail/config.hpp"
#include "goro/errors.hpp"
#include "sched/fairness.hpp"
#include "sched/fiber_local.hpp"
#include "sched/g.hpp"
#include "sched/m.hpp"
#include "sched/p.hpp"
#include "sched/retake.hpp"
#include "sched/runtime.hpp"
#include "sched/schedule.hpp"

namespace goro::rt {

void switch_to_g0(M* m, G* g) {
  const thread_state ts = m->slots.save();
  transfer_t t = switch_context(m->g0, g);
  // g0 of the M that resumed us passes itself as data; its registers are
  // what we must come back to next time, its thread gets our state.
  M* now = static_cast<M*>(t.data);
  now->g0.fctx = t.fctx;
  now->slots.restore(ts);
}

namespace {

// Stack a fiber must have left below its saved stack pointer for a direct
// switch to it: finish_direct runs there (park unlock callbacks, timer
// heap updates, malloc). Sanitizer frames are several times larger.
constexpr std::ptrdiff_t direct_headroom = (GORO_ASAN || GORO_TSAN) ? 32 * 1024 : 8 * 1024;

// Runs on top of the next fiber's stack, first thing after a direct switch:
// the old fiber's registers are saved now, so it may be published (queued,
// or handed to its wait queue by the park's unlock).
// noexcept: an exception here would unwind into the fiber being resumed.
// It must not call ready(): m->curg is already the next fiber, so ready()
// would take the path for threads outside the runtime.
transfer_t finish_direct(transfer_t t) noexcept {
  M* m = static_cast<M*>(t.data);
  G* prev = m->switched_from;
  m->switched_from = nullptr;
  prev->ctx.fctx = t.fctx;
  handle_action(m, prev);
  // The new fiber runs user code from here on (sysmon may take the P).
  leave_runtime(m);
  // What the fiber we resume expects from whoever resumed it: this M, and
  // its g0's context (unchanged: g0 still waits in execute()).
  return {m->g0.fctx, m};
}

// The next fiber for a direct switch, or null (then go through g0):
// picks from p's own queues unless p's timers are due or the direct_switch
// knob is off (sched/knobs.hpp: every switch then goes through g0). The pick may take
// the sched lock (local_pick's fairness check), whose slow path can set
// errno: the fiber's errno is kept, since it is saved only afterwards.
G* pick_direct(M* m, P* p, bool& inherit_time) {
  if (!p->knobs.direct_switch || timers_due(p)) return nullptr;
  int* err = m->slots.err;
  const int saved_errno = *err;
  found f = local_pick(m->rt, p);
  *err = saved_errno;
  if (f.g == nullptr) return nullptr;
  if (__builtin_expect(f.g->lockedm != nullptr, 0)) {
    // Locked to another M (sched/lockedm.hpp): g0 hands it over. It goes
    // first when g0 picks.
    runq_unpick(p, f.g);
    return nullptr;
  }
  inherit_time = f.inherit_time;
  // finish_direct runs on top of the next fiber's suspended frames (its
  // saved stack pointer is its context): leave that to g0 when the next
  // fiber is short of stack, so the runtime never overflows a user stack.
  const char* sp = static_cast<const char*>(f.g->ctx.fctx);
  if (sp - static_cast<const char*>(f.g->ctx.stack_lo) < direct_headroom) {
    // Already taken off the queue: it goes first when g0 picks.
    runq_unpick(p, f.g);
    return nullptr;
  }
  return f.g;
}

// The bookkeeping before a direct switch from g to next (for finish_direct
// and, if next is fresh, fiber_main).
void prepare_direct(M* m, G* g, G* next, bool inherit_time) {
  start_running(m, next, inherit_time);
  m->switched_from = g;
  m->started_directly = next->fresh;
}

}  // namespace

// Skipping g0 halves the context switches and keeps the scheduler's stack
// cold; when p's own queues are empty, find_runnable (on g0) looks at the
// global queue, steals, or goes idle.
bool switch_direct(M* m, G* g, P* p) {
  // A locked fiber's M runs nothing else: g0 gives the P away instead.
  if (g->lockedm != nullptr) return false;
  bool inherit = false;
  G* next = pick_direct(m, p, inherit);
  if (next == nullptr) return false;
  switch_to_fiber(m, g, next, inherit);
  return true;
}

void switch_to_fiber(M* m, G* g, G* next, bool inherit_time) {
  prepare_direct(m, g, next, inherit_time);
  const thread_state ts = m->slots.save();
  transfer_t t = switch_context_ontop(next->ctx, m, &finish_direct);
  M* now = static_cast<M*>(t.data);
  now->g0.fctx = t.fctx;
  now->slots.restore(ts);
}

void execute(M* m, G* g, bool inherit_time) {
  for (;;) {
    start_running(m, g, inherit_time);
    // From here until g calls into the runtime again, sysmon may take p.
    leave_runtime(m);
    transfer_t t = switch_context(g->ctx, m);  // g0 has no thread state to carry
    // Only the fiber running on this M can switch to this M's g0; that is
    // g, or a fiber g (or its successors) switched to directly.
    G* cur = m->curg;
    cur->ctx.fctx = t.fctx;
    m->curg = nullptr;
    handle_action(m, cur);
    // A spawn hand-off that came through g0 (the direct_switch knob off):
    // the new fiber runs now, inheriting the slice, as it would have after
    // a direct switch. The M is still in the runtime, so the P is still
    // ours (handle_action checked it).
    g = m->handoff_next;
    if (__builtin_expect(g == nullptr, 1)) return;
    m->handoff_next = nullptr;
    inherit_time = true;
  }
}

void fiber_main(transfer_t t) {
  // Started by g0 (execute), t is g0's context and our M. Started by a
  // direct switch, t is garbage: Boost.Context's entry trampoline does not
  // pass on the result of the function run on top (finish_direct), so the
  // switcher leaves word on the M, and g0's context is unchanged anyway.
  M* m = current_m();
  if (m->started_directly) {
    m->started_directly = false;
  } else {
    m->g0.fctx = t.fctx;
  }
  context_started();
  m->slots.start();
  G* g = m->curg;
  g->fresh = false;
  try {
    g->entry(g->entry_arg);
  } catch (const goro::fiber_cancelled&) {
    // Left blocked when main returned, and unwound (sched/leftover.hpp):
    // the fiber ends quietly.
  } catch (...) {
    report_uncaught_exception(g);
  }
  // Its goro::fiber_local values, on the fiber itself (destructors may use
  // goro), before the G is given back; also after an unwinding.
  if (g->nlocals != 0) destroy_fiber_locals(g);
  // The fiber may have migrated: read the M afresh.
  m = current_m();
  P* p = enter_runtime(m);
  m->action = m_action::exit;
  if (g->lockedm != nullptr) {
    // Ended while locked: its thread retires (sched/lockedm.hpp, rule 5),
    // through g0.
    g->lockedm = nullptr;
    g->lockcount = 0;
    m->lockedg = nullptr;
    m->retire = true;
  }
  bool inherit = false;
  if (G* next = p != nullptr && !m->retire ? pick_direct(m, p, inherit) : nullptr) {
    // Straight to the next fiber (switch_to_fiber); finish_direct frees g.
    prepare_direct(m, g, next, inherit);
    switch_context_ontop_final(next->ctx, m, &finish_direct);
  }
  switch_context_final(m->g0, g);
}

}  // namespace goro::rt
