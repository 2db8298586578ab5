// Fiber-side entry points into the scheduler: starting and ending a fiber,
// yield, park/ready, and leaving/re-entering the scheduler around blocking
// calls (Go's gopark / goready / Gosched / goexit / entersyscallblock /
// exitsyscall).
#include <mutex>
#include <stdexcept>

#include "debug/fatal.hpp"
#include "goro/blocking.hpp"
#include "goro/this_fiber.hpp"
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
    runq_put(m->p, g, true);
  } else {
    std::lock_guard<mutex> l(rt->lock);
    globrunq_put(rt, g);
  }
  wakep(rt);
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
    case wait_reason::wait_group: return "wait group";
    case wait_reason::semaphore: return "semaphore";
    case wait_reason::select: return "select";
    case wait_reason::mutex: return "mutex";
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
