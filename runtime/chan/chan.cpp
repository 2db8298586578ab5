// The type-independent channel operations that need the runtime: blocking
// on a queue, close, and blocking forever (nil channels). The typed
// operations are inline in goro/chan.hpp; select is select.cpp.
#include "debug/fatal.hpp"
#include "goro/detail/chan_core.hpp"
#include "sched/g.hpp"

namespace goro::detail {

namespace {

// A party blocked in chan_core::block, for its cancel hook.
struct blocked_op {
  chan_core* c;
  waiter* w;
  bool is_send;
};

// The cancel hook (goro/detail/wait.hpp, parker): take the waiter off its
// queue, unless a partner or close() already took it (it is being woken).
bool cancel_blocked_op(void* arg) noexcept {
  auto* b = static_cast<blocked_op*>(arg);
  if (b->w->orphaned) return true;  // the channel is gone; its destructor unlinked us
  b->c->lock.lock();
  const bool queued = b->w->queued;
  (b->is_send ? b->c->sendq : b->c->recvq).remove(b->w);
  b->c->lock.unlock();
  return queued;
}

}  // namespace

chan_core::~chan_core() {
  // No handle is left, so nobody else can reach the queues: no lock.
  for (wait_list* q : {&sendq, &recvq}) {
    while (waiter* w = q->head) {
      q->remove(w);
      w->orphaned = true;
    }
  }
}

bool chan_core::block(waiter& w, bool is_send) {
  blocked_op self{this, &w, is_send};
  w.who->cancel = &cancel_blocked_op;
  w.who->cancel_arg = &self;
  wait_list& q = is_send ? sendq : recvq;
  const waiter* ahead = q.tail;
  q.push_back(&w);
  if (w.who->g != nullptr) {
    // The dump's wait-for edge, straight into the blocking fiber's G: the
    // channel, and the fiber queued just ahead of it there (it waits for
    // the same partner), if any. No field of the channel's own: its layout
    // sets how its lock's cache line is shared.
    rt::G* g = w.who->g;
    g->waiting_on.store(this, std::memory_order_relaxed);
    g->wait_peer.store(ahead != nullptr && ahead->who->g != nullptr ? rt::goid_of(ahead->who->g) : 0,
                       std::memory_order_relaxed);
  }
  parker_block(*w.who, is_send ? wait_reason::chan_send : wait_reason::chan_recv, &spinlock::unlock_fn, &lock);
  // Written by the partner before it woke us (ordered by the wake-up).
  return w.ok;
}

void chan_core::close() {
  lock.lock();
  if (closed) {
    lock.unlock();
    throw closed_channel_error("goro::chan::close: close of closed channel");
  }
  closed = true;
  // Collect every party to wake; wake them only after unlocking.
  waiter* all = nullptr;
  while (waiter* w = recvq.pop()) {
    w->ok = false;
    w->next = all;
    all = w;
  }
  while (waiter* w = sendq.pop()) {
    w->ok = false;
    w->next = all;
    all = w;
  }
  lock.unlock();
  while (all) {
    // Read next first: once woken, the waiter (on its owner's stack) may go.
    waiter* next = all->next;
    parker_wake(*all->who);
    all = next;
  }
}

namespace {

void no_unlock(void*) noexcept {}

// Nothing to take off any queue: cancelling is always ours to do.
bool cancel_forever(void*) noexcept { return true; }

}  // namespace

[[noreturn]] void block_forever(wait_reason why) {
  parker p;
  parker_init(p);
  p.cancel = &cancel_forever;
  parker_block(p, why, &no_unlock, nullptr);  // returns only by throwing fiber_cancelled
  rt::fatal("goro::detail::block_forever", "woken from a wait that has no waker");
}

}  // namespace goro::detail
