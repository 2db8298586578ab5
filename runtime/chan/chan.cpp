// The type-independent channel operations that need the runtime: blocking
// on a queue, close, and blocking forever (nil channels). The typed
// operations are inline in goro/chan.hpp; select is select.cpp.
#include "debug/fatal.hpp"
#include "goro/detail/chan_core.hpp"

namespace goro::detail {

bool chan_core::block(waiter& w, bool is_send) {
  (is_send ? sendq : recvq).push_back(&w);
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

}  // namespace

[[noreturn]] void block_forever(wait_reason why) {
  parker p;
  parker_init(p);
  parker_block(p, why, &no_unlock, nullptr);
  rt::fatal("goro::detail::block_forever", "woken from a wait that has no waker");
}

}  // namespace goro::detail
