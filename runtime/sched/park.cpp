// Fiber-side entry points into the scheduler: starting and ending a fiber,
// yield, park/ready, and leaving/re-entering the scheduler around blocking
// calls (Go's gopark / goready / Gosched / goexit / entersyscallblock /
// exitsyscall).
#include <cerrno>
#include <mutex>
#include <stdexcept>

#include "debug/fatal.hpp"
#include "goro/blocking.hpp"
#include "goro/this_fiber.hpp"
#include "sched/futex.hpp"
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

void fiber_main(transfer_t t) {
  M* m = static_cast<M*>(t.data);
  context_started(m->slots);
  m->g0.fctx = t.fctx;
  G* g = m->curg;
  try {
    g->entry(g->entry_arg);
  } catch (...) {
    report_uncaught_exception(g);
  }
  // The fiber may have migrated: read the M afresh.
  m = current_m();
  m->action = m_action::exit;
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
  if (m->p == nullptr) fatal("goro::detail::park", "cannot block inside goro::blocking (the fiber holds no P)");
  g->waitreason = why;
  g->park_unlock = unlock;
  g->park_arg = arg;
  m->action = m_action::park;
  switch_to_g0(m, g);
  g->waitreason = wait_reason::none;
}

void ready(fiber* g) noexcept {
  runtime* rt = g->rt;
  casgstatus(g, gstatus::waiting, gstatus::runnable, "ready");
  M* m = current_m();
  if (m != nullptr && m->rt == rt && m->p != nullptr) {
    // The readied G runs next on this P, inheriting the time slice (a
    // producer and consumer then ping-pong on one P with warm caches).
    P* p = m->p;
    runq_put(p, g, true);
    // Wake another M only if this P now has more than that one G (as
    // Tokio does for its LIFO slot). A lone runnext G runs here as soon as
    // the current G blocks, which is the usual case (a channel hand-off);
    // waking an M for it costs a futex round trip and lets a spinner steal
    // it, splitting the pair across cores.
    if (p->runq.size() > 1 || !p->conts.empty()) wakep(rt);
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
  // A fiber parks only if it holds a P; inside goro::blocking (no P) it
  // blocks its thread like a thread outside the runtime.
  p.g = (m != nullptr && m->curg != nullptr && m->p != nullptr) ? m->curg : nullptr;
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
  if (m->p == nullptr) throw std::logic_error("goro::blocking: already inside goro::blocking");
  casgstatus(g, gstatus::running, gstatus::syscall, "enter_blocking");
  P* p = releasep(m);
  g->syscall_oldp = p;
  // Hand the P on: to an M if there is work, else to the idle list.
  handoffp(m->rt, p);
}

void exit_blocking() {
  M* m = current_m();
  G* g = m->curg;
  runtime* rt = m->rt;
  P* oldp = g->syscall_oldp;
  g->syscall_oldp = nullptr;
  {
    std::lock_guard<mutex> l(rt->lock);
    // Fast path: our old P, if nobody took it, else any idle P.
    P* p = pidleremove(rt, oldp) ? oldp : pidleget(rt);
    if (p) {
      acquirep(m, p);
      casgstatus(g, gstatus::syscall, gstatus::running, "exit_blocking");
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
    case wait_reason::once: return "call_once";
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
  if (m->p == nullptr) throw std::logic_error("goro::this_fiber::yield: cannot yield inside goro::blocking");
  m->action = m_action::yield;
  switch_to_g0(m, g);
}

std::uint64_t id() noexcept {
  const detail::fiber* g = detail::current_fiber_or_null();
  return g ? g->goid : 0;
}

}  // namespace goro::this_fiber
