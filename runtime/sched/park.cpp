// Fiber-side entry points into the scheduler: starting and ending a fiber,
// yield, park/ready, and leaving/re-entering the scheduler around blocking
// calls (Go's gopark / goready / Gosched / goexit / entersyscallblock /
// exitsyscall).
#include <cerrno>
#include <mutex>
#include <stdexcept>

#include "debug/fatal.hpp"
#include "goro/detail/config.hpp"
#include "goro/blocking.hpp"
#include "goro/this_fiber.hpp"
#include "sched/futex.hpp"
#include "sched/retake.hpp"
#include "sched/sched.hpp"

namespace goro::rt {

// Switch from fiber g (running on m) to m's g0, which carries out
// m->action. Returns when g is resumed, on whichever M resumed it.
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
// picks from p's own queues unless p's timers are due. The pick may take
// the sched lock (local_pick's fairness check), whose slow path can set
// errno: the fiber's errno is kept, since it is saved only afterwards.
G* pick_direct(M* m, P* p, bool& inherit_time) {
  if (timers_due(p)) return nullptr;
  int* err = m->slots.err;
  const int saved_errno = *err;
  found f = local_pick(m->rt, p);
  *err = saved_errno;
  if (f.g == nullptr) return nullptr;
  inherit_time = f.inherit_time;
  // finish_direct runs on top of the next fiber's suspended frames (its
  // saved stack pointer is its context): leave that to g0 when the next
  // fiber is short of stack, so the runtime never overflows a user stack.
  const char* sp = static_cast<const char*>(f.g->ctx.fctx);
  if (sp - static_cast<const char*>(f.g->ctx.stack_lo) < direct_headroom) {
    // Already taken off the queue: it goes first when g0 picks.
    runq_put(p, f.g, true);
    return nullptr;
  }
  return f.g;
}

// The fiber g, in the runtime on m with m's P, leaves for m->action (yield or
// park). Pick what runs next on the P and switch straight to it,
// skipping g0: half the context switches, and the scheduler's stack stays
// cold. Returns false, without switching, when the choice needs g0: p's
// timers are due, p's own queues are empty (find_runnable then looks at the
// global queue, steals, or goes idle), or the next fiber is short of stack.
// Otherwise returns true once g is resumed (on whichever M).
bool switch_direct(M* m, G* g, P* p) {
  bool inherit = false;
  G* next = pick_direct(m, p, inherit);
  if (next == nullptr) return false;
  switch_to_fiber(m, g, next, inherit);
  return true;
}

// The bookkeeping before a direct switch from g to next (for finish_direct
// and, if next is fresh, fiber_main).
void prepare_direct(M* m, G* g, G* next, bool inherit_time) {
  start_running(m, next, inherit_time);
  m->switched_from = g;
  m->started_directly = next->fresh;
}

}  // namespace

void switch_to_fiber(M* m, G* g, G* next, bool inherit_time) {
  prepare_direct(m, g, next, inherit_time);
  const thread_state ts = m->slots.save();
  transfer_t t = switch_context_ontop(next->ctx, m, &finish_direct);
  M* now = static_cast<M*>(t.data);
  now->g0.fctx = t.fctx;
  now->slots.restore(ts);
}

void rejoin(M* m, G* g) {
  runtime* rt = m->rt;
  {
    std::lock_guard<mutex> l(rt->lock);
    if (P* p = pidleget(rt)) {
      acquirep(m, p);
      return;
    }
  }
  m->action = m_action::rejoin;
  switch_to_g0(m, g);  // resumed by execute() on an M with a P, outside the runtime
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
  context_started(m->slots);
  G* g = m->curg;
  g->fresh = false;
  try {
    g->entry(g->entry_arg);
  } catch (...) {
    report_uncaught_exception(g);
  }
  // The fiber may have migrated: read the M afresh.
  m = current_m();
  P* p = enter_runtime(m);
  m->action = m_action::exit;
  bool inherit = false;
  if (G* next = p != nullptr ? pick_direct(m, p, inherit) : nullptr) {
    // Straight to the next fiber (switch_to_fiber); finish_direct frees g.
    prepare_direct(m, g, next, inherit);
    switch_context_ontop_final(next->ctx, m, &finish_direct);
  }
  switch_context_final(m->g0, g);
}

}  // namespace goro::rt

namespace goro::detail {

using namespace goro::rt;

fiber* current_fiber_or_null() noexcept {
  M* m = current_m();
  return m ? m->curg : nullptr;
}

fiber* current_fiber() {
  fiber* g = current_fiber_or_null();
  if (g == nullptr) throw std::logic_error("goro: this operation must be called from a fiber of a goro runtime");
  return g;
}

std::uint64_t fiber_id(const fiber* g) noexcept { return g->goid; }

void park(wait_reason why, void (*unlock)(void*), void* arg) {
  M* m = current_m();
  G* g = m ? m->curg : nullptr;
  if (g == nullptr) fatal("goro::detail::park", "called outside a fiber");
  if (g->status.load(std::memory_order_relaxed) == gstatus::syscall)
    fatal("goro::detail::park", "cannot park inside goro::blocking (the fiber's thread is given away)");
  enter_runtime(m);  // with or without a P: parking needs none
  g->waitreason = why;
  g->park_unlock = unlock;
  g->park_arg = arg;
  m->action = m_action::park;
  P* p = m->p;  // entered above: if still set, sysmon cannot take it now
  if (p == nullptr || !switch_direct(m, g, p)) switch_to_g0(m, g);
  g->waitreason = wait_reason::none;
}

void ready(fiber* g) noexcept {
  runtime* rt = g->rt;
  casgstatus(g, gstatus::waiting, gstatus::runnable, "ready");
  M* m = current_m();
  // Called from a fiber's code (not from g0, nor inside goro::blocking):
  // claim the P against sysmon for the duration.
  const bool from_fiber = m != nullptr && m->rt == rt && !m->in_rt.load(std::memory_order_relaxed) &&
                          m->curg != nullptr && m->curg->status.load(std::memory_order_relaxed) == gstatus::running;
  P* p = from_fiber ? enter_runtime(m) : nullptr;
  if (p != nullptr) {
    // The readied G runs next on this P, inheriting the time slice (a
    // producer and consumer then ping-pong on one P with warm caches).
    runq_put(p, g, true);
    // Wake another M only if this P now has more than that one G (as
    // Tokio does for its LIFO slot). A lone runnext G runs here as soon as
    // the current G blocks, which is the usual case (a channel hand-off);
    // waking an M for it costs a futex round trip and lets a spinner steal
    // it, splitting the pair across cores.
    // sysmon wakes one if such a G waits too long (sysmon.cpp).
    if (p->runq.size() > 1 || !p->conts.empty()) wakep(rt);
    leave_runtime(m);
    return;
  }
  if (from_fiber) leave_runtime(m);  // sysmon took our P: use the global queue
  if (m != nullptr && m->rt == rt && m->p != nullptr && m->curg == nullptr && m->in_rt.load(std::memory_order_relaxed)) {
    // On g0 with a P (a timer firing in find_runnable): FIFO on our ring.
    runq_put(m->p, g, false);
    wakep(rt);
    return;
  }
  // From a thread outside this runtime (or without a P). Once g is queued
  // it may run and finish, and the runtime end, before wakep returns: the
  // in-flight count keeps run() from freeing the runtime under us.
  // seq_cst/release: run() waits with an acquire load for zero after every
  // fiber (including g) has finished, so it sees our increment.
  rt->external_inflight.fetch_add(1, std::memory_order_seq_cst);
  {
    std::lock_guard<mutex> l(rt->lock);
    globrunq_put(rt, g);
  }
  wakep(rt);
  rt->external_inflight.fetch_sub(1, std::memory_order_release);
}

void parker_init(parker& p) noexcept {
  M* m = current_m();
  // A fiber parks; inside goro::blocking (its thread is given away) it
  // blocks its thread like a thread outside the runtime.
  G* g = m != nullptr ? m->curg : nullptr;
  p.g = (g != nullptr && g->status.load(std::memory_order_relaxed) == gstatus::running) ? g : nullptr;
}

void parker_block(parker& p, wait_reason why, void (*unlock)(void*), void* arg) {
  if (p.g != nullptr) {
    park(why, unlock, arg);
    return;
  }
  unlock(arg);
  // acquire: pairs with parker_wake's release store, so the waker's writes
  // (the value handed over, the select case) are visible after we return.
  while (p.woken.load(std::memory_order_acquire) == 0) {
    int err = futex_wait(&p.woken, 0, nullptr);
    if (err != 0 && err != EAGAIN && err != EINTR) fatal("goro::detail::parker_block", "futex wait failed");
  }
}

void parker_wake(parker& p) noexcept {
  if (p.g != nullptr) {
    ready(p.g);
    return;
  }
  // The blocked thread may return (and p vanish with its stack frame) as
  // soon as it sees the store; the futex wake only uses the address, which
  // stays mapped (a thread's stack outlives this call; a stale wake-up on
  // reused memory is a spurious wake-up, which futex waiters tolerate).
  p.woken.store(1, std::memory_order_release);
  futex_wake(&p.woken, 1);
}

void* keep_alive_acquire() {
  M* m = current_m();
  if (m == nullptr || m->curg == nullptr)
    throw std::logic_error("goro::keep_alive: must be created in a fiber of a goro runtime");
  // relaxed: checkdead reads it under rt->lock after every M went idle; the
  // creating fiber is running, so no M is idle-checking concurrently with a
  // 0 -> 1 change that matters.
  m->rt->external_refs.fetch_add(1, std::memory_order_relaxed);
  return m->rt;
}

void keep_alive_release(void* r) noexcept {
  runtime* rt = static_cast<runtime*>(r);
  std::lock_guard<mutex> l(rt->lock);
  // Under the lock so that checkdead sees either the reference or our
  // check below, never neither; and so that run(), which waits under the
  // lock for the count to reach zero, frees nothing before we are done.
  if (rt->external_refs.fetch_sub(1, std::memory_order_relaxed) == 1) checkdead(rt);
}

void enter_blocking() {
  M* m = current_m();
  G* g = m ? m->curg : nullptr;
  if (g == nullptr) throw std::logic_error("goro::blocking: must be called from a fiber");
  if (g->status.load(std::memory_order_relaxed) == gstatus::syscall)
    throw std::logic_error("goro::blocking: already inside goro::blocking");
  // Go's entersyscall: cheap. The P stays with us, marked; sysmon takes it
  // and hands it to another M if the call lasts (a tick, 20 us, when other
  // work waits for it; sysmon.cpp).
  P* p = enter_runtime(m);
  casgstatus(g, gstatus::running, gstatus::syscall, "enter_blocking");
  g->syscall_oldp = p;
  if (p != nullptr) {
    p->syscalltick.store(p->syscalltick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    p->in_syscall.store(true, std::memory_order_relaxed);
  }
  leave_runtime(m);
}

void exit_blocking() {
  M* m = current_m();
  G* g = m->curg;
  runtime* rt = m->rt;
  P* oldp = g->syscall_oldp;
  g->syscall_oldp = nullptr;
  // Fast path: sysmon did not take our P.
  if (P* p = enter_runtime(m)) {
    p->in_syscall.store(false, std::memory_order_relaxed);
    casgstatus(g, gstatus::syscall, gstatus::running, "exit_blocking");
    leave_runtime(m);
    return;
  }
  {
    std::lock_guard<mutex> l(rt->lock);
    // Our old P if it went idle meanwhile, else any idle P.
    P* p = oldp != nullptr && pidleremove(rt, oldp) ? oldp : pidleget(rt);
    if (p) {
      acquirep(m, p);
      casgstatus(g, gstatus::syscall, gstatus::running, "exit_blocking");
      leave_runtime(m);
      return;
    }
  }
  // No P: wait on the global queue (g0 queues us after we switched out).
  m->action = m_action::blocking_exit;
  switch_to_g0(m, g);
}

const char* to_string(wait_reason r) noexcept {
  switch (r) {
    case wait_reason::none: return "running";
    case wait_reason::chan_send: return "chan send";
    case wait_reason::chan_recv: return "chan receive";
    case wait_reason::chan_send_nil: return "chan send (nil chan)";
    case wait_reason::chan_recv_nil: return "chan receive (nil chan)";
    case wait_reason::select: return "select";
    case wait_reason::select_no_cases: return "select (no cases)";
    case wait_reason::wait_group: return "wait group";
    case wait_reason::semaphore: return "semaphore";
    case wait_reason::mutex: return "mutex";
    case wait_reason::rwmutex_read: return "shared_mutex (shared)";
    case wait_reason::rwmutex_write: return "shared_mutex (exclusive)";
    case wait_reason::cond: return "condition variable";
    case wait_reason::sleep: return "sleep";
    case wait_reason::io: return "IO wait";
  }
  return "?";
}

}  // namespace goro::detail

namespace goro::this_fiber {

void yield() {
  using namespace goro::rt;
  M* m = current_m();
  G* g = m ? m->curg : nullptr;
  if (g == nullptr) throw std::logic_error("goro::this_fiber::yield: must be called from a fiber");
  if (g->status.load(std::memory_order_relaxed) == gstatus::syscall)
    throw std::logic_error("goro::this_fiber::yield: cannot yield inside goro::blocking");
  P* p = enter_runtime(m);
  m->action = m_action::yield;
  if (p == nullptr || !switch_direct(m, g, p)) switch_to_g0(m, g);
}

void preempt_point() noexcept {
  using namespace goro::rt;
  M* m = current_m();
  if (m == nullptr || m->curg == nullptr) return;
  P* p = m->p;  // a racy read: P objects live as long as the runtime
  if (p == nullptr || !p->preempt.load(std::memory_order_relaxed)) return;
  if (m->curg->status.load(std::memory_order_relaxed) != gstatus::running) return;
  yield();
}

std::uint64_t id() noexcept {
  const detail::fiber* g = detail::current_fiber_or_null();
  return g ? g->goid : 0;
}

}  // namespace goro::this_fiber
