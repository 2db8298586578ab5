// Descriptor records and waiting on them (the protocol is in poll_desc.hpp).
#include "poll/poll_desc.hpp"

#include <sys/epoll.h>

#include <cerrno>
#include <mutex>
#include <optional>
#include <system_error>
#include <variant>

#include "debug/fatal.hpp"
#include "goro/detail/chan_core.hpp"
#include "os/clock.hpp"
#include "poll/netpoll.hpp"
#include "sched/idle.hpp"
#include "sched/runtime.hpp"

namespace goro::rt {

namespace {

// The free records. Records are allocated in blocks and never freed (see
// poll_desc.hpp), so the list only grows to the most descriptors ever open
// at once.
struct record_pool {
  std::mutex mu;
  poll_desc* free = nullptr;
};

record_pool& pool() {
  static record_pool* p = new record_pool;  // never destroyed: events may name records until exit
  return *p;
}

constexpr int pool_block = 128;
constexpr std::uint64_t tag_shift = 48;
constexpr std::uint64_t ptr_mask = (std::uint64_t{1} << tag_shift) - 1;

std::uint64_t pack(poll_desc* pd) noexcept {
  const auto bits = reinterpret_cast<std::uintptr_t>(pd);
  GORO_CHECK((bits & ~ptr_mask) == 0, "poll record above 2^48");
  return bits | (std::uint64_t{pd->seq & 0xffffu} << tag_shift);
}

poll_desc* alloc_record() {
  record_pool& p = pool();
  std::lock_guard<std::mutex> l(p.mu);
  if (p.free == nullptr) {
    auto* block = new poll_desc[pool_block];
    for (int i = 0; i < pool_block; i++) {
      block[i].next = p.free;
      p.free = &block[i];
    }
  }
  poll_desc* pd = p.free;
  p.free = pd->next;
  pd->next = nullptr;
  return pd;
}

void release_record(poll_desc* pd) {
  record_pool& p = pool();
  std::lock_guard<std::mutex> l(p.mu);
  pd->next = p.free;
  p.free = pd;
}

// True if this is the runtime's first open record.
bool link_record(runtime* rt, poll_desc* pd) {
  std::lock_guard<futex_lock> l(rt->poll.records_lock);
  // seq_cst: stopm reads it after publishing itself as idle (see there).
  const bool first = rt->poll.records_open.fetch_add(1, std::memory_order_seq_cst) == 0;
  pd->prev = nullptr;
  pd->next = rt->poll.records;
  if (pd->next) pd->next->prev = pd;
  rt->poll.records = pd;
  return first;
}

// records_lock held.
void unlink_record_locked(runtime* rt, poll_desc* pd) {
  rt->poll.records_open.fetch_sub(1, std::memory_order_seq_cst);
  if (pd->prev) pd->prev->next = pd->next; else rt->poll.records = pd->next;
  if (pd->next) pd->next->prev = pd->prev;
  pd->prev = pd->next = nullptr;
}

// From here on, events still queued in the kernel for this record carry
// the old tag and are dropped (pd_event). Record lock held.
void retire_locked(poll_desc* pd) noexcept {
  pd->seq++;
  pd->fd = -1;
  pd->rt = nullptr;
  pd->closing = true;
}

// Take every waiter off `q` (claiming each), mark it with `ok` and chain it
// on `*out` through waiter::next. Record lock held.
int pop_all(detail::wait_list& q, bool ok, detail::waiter** out) noexcept {
  int n = 0;
  while (detail::waiter* w = q.pop()) {
    w->ok = ok;
    w->next = *out;
    *out = w;
    n++;
  }
  return n;
}

// Wake what pop_all collected. After the record's lock is released.
void wake_all(detail::waiter* w) noexcept {
  while (w) {
    detail::waiter* next = w->next;  // before the wake: the waiter lives on the woken party's stack
    detail::parker_wake(*w->who);
    w = next;
  }
}

std::int64_t earlier(std::int64_t a, std::int64_t b) noexcept {
  if (a == 0) return b;
  if (b == 0) return a;
  return a < b ? a : b;
}

// A party blocked in pd_wait, for the unlock callback and the cancel hook.
struct blocked_io {
  poll_desc* pd;
  detail::chan_core* done;
  detail::waiter* w;
  detail::waiter* cw;
  io_mode mode;
};

void unlock_both(void* arg) noexcept {
  auto* b = static_cast<blocked_io*>(arg);
  if (b->done) b->done->lock.unlock();
  b->pd->lock.unlock();
}

void lock_both(poll_desc* pd, detail::chan_core* done) noexcept {
  pd->lock.lock();
  if (done) done->lock.lock();
}

void remove_both(const blocked_io& b) noexcept {
  (b.mode == io_mode::read ? b.pd->rq : b.pd->wq).remove(b.w);
  if (b.done) b.done->recvq.remove(b.cw);
}

// The cancel hook (detail/wait.hpp, parker): win the claim, then leave both
// queues; false when a waker won first (it is waking us).
bool cancel_io(void* arg) noexcept {
  auto* b = static_cast<blocked_io*>(arg);
  lock_both(b->pd, b->done);
  const bool ours = detail::parker_claim(*b->w->who);
  if (ours) remove_both(*b);
  unlock_both(b);
  return ours;
}

}  // namespace

poll_desc* pd_open(runtime* rt, int fd) {
  netpoll_init(rt);
  poll_desc* pd = alloc_record();
  {
    std::lock_guard<detail::spinlock> l(pd->lock);
    pd->rt = rt;
    pd->fd = fd;
    pd->closing = false;
    pd->rready.store(false, std::memory_order_relaxed);
    pd->wready.store(false, std::memory_order_relaxed);
    pd->rdeadline = pd->wdeadline = 0;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = pack(pd);
  if (epoll_ctl(rt->poll.epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    const int err = errno;
    {
      std::lock_guard<detail::spinlock> l(pd->lock);
      pd->seq++;
      pd->fd = -1;
      pd->rt = nullptr;
    }
    release_record(pd);
    throw std::system_error(err, std::generic_category(), "goro: registering a descriptor with epoll");
  }
  // The first descriptor: the Ms that went idle before it sleep on their
  // notes, and the opener may be no M's fiber (a thread, or a fiber in
  // goro::blocking, whose P sysmon may hand to the idle list): have one
  // of them poll. After records_lock is released (the kick takes the
  // sched lock; checkdead takes records_lock under it).
  if (link_record(rt, pd)) netpoll_kick(rt);
  return pd;
}

void pd_evict(poll_desc* pd) noexcept {
  detail::waiter* wake = nullptr;
  pd->lock.lock();
  pd->closing = true;
  pop_all(pd->rq, false, &wake);
  pop_all(pd->wq, false, &wake);
  pd->lock.unlock();
  wake_all(wake);
}

void pd_free(poll_desc* pd) noexcept {
  runtime* rt;
  int fd;
  {
    std::lock_guard<detail::spinlock> l(pd->lock);
    GORO_CHECK(pd->rq.empty() && pd->wq.empty(), "poll record freed with waiters");
    rt = pd->rt;
    fd = pd->fd;
    // Pin the runtime (see poller::freeing): the caller may be a thread
    // outside it, racing its end. relaxed: the record's lock orders it
    // before pd_orphan_all's clearing of rt, and so before netpoll_close's
    // wait.
    if (rt != nullptr) rt->poll.freeing.fetch_add(1, std::memory_order_relaxed);
  }
  if (rt != nullptr) {
    // Deregister before the caller closes fd: a dup of fd elsewhere would
    // otherwise keep the registration alive. The epoll instance is open
    // while the runtime is pinned (even if it was orphaned meanwhile).
    epoll_ctl(rt->poll.epfd, EPOLL_CTL_DEL, fd, nullptr);
    std::lock_guard<futex_lock> records(rt->poll.records_lock);
    std::lock_guard<detail::spinlock> l(pd->lock);
    // Still linked unless pd_orphan_all took it off the list meanwhile
    // (it clears rt under both locks, as here).
    if (pd->rt == rt) unlink_record_locked(rt, pd);
    retire_locked(pd);
  } else {
    std::lock_guard<detail::spinlock> l(pd->lock);
    retire_locked(pd);
  }
  // release: our uses of the runtime happen before netpoll_close frees it.
  if (rt != nullptr) rt->poll.freeing.fetch_sub(1, std::memory_order_release);
  release_record(pd);
}

io_result pd_prepare(poll_desc* pd, io_mode mode) noexcept {
  std::atomic<bool>& kept = mode == io_mode::read ? pd->rready : pd->wready;
  std::lock_guard<detail::spinlock> l(pd->lock);
  if (pd->closing) return io_result::closed;
  const std::int64_t dl = mode == io_mode::read ? pd->rdeadline : pd->wdeadline;
  if (dl != 0 && dl <= now_ns()) return io_result::timeout;
  kept.store(false, std::memory_order_relaxed);
  return io_result::ready;
}

io_result pd_wait(poll_desc* pd, io_mode mode, std::int64_t deadline, detail::chan_core* done) {
  runtime* rt = pd->rt;
  if (rt == nullptr) return io_result::closed;
  std::atomic<bool>& kept = mode == io_mode::read ? pd->rready : pd->wready;
  // No need to wake anyone to poll for us: while rt has an open
  // descriptor, its Ms poll before they idle, the timed sleeper sleeps in
  // epoll_wait, and sysmon polls when nobody has for 10 ms.
  for (;;) {
    lock_both(pd, done);
    if (pd->closing) {
      if (done) done->lock.unlock();
      pd->lock.unlock();
      return io_result::closed;
    }
    // A passed deadline wins over readiness (as in pd_prepare): an
    // operation past its deadline fails even when it could go on.
    const std::int64_t dl = earlier(mode == io_mode::read ? pd->rdeadline : pd->wdeadline, deadline);
    if (dl != 0 && dl <= now_ns()) {
      if (done) done->lock.unlock();
      pd->lock.unlock();
      return io_result::timeout;
    }
    if (kept.load(std::memory_order_relaxed)) {
      kept.store(false, std::memory_order_relaxed);
      if (done) done->lock.unlock();
      pd->lock.unlock();
      return io_result::ready;
    }
    if (done && done->closed) {
      done->lock.unlock();
      pd->lock.unlock();
      return io_result::canceled;
    }
    detail::parker p;
    detail::parker_init(p);
    detail::waiter w;
    w.who = &p;
    w.must_claim = true;
    detail::waiter cw;
    std::optional<std::monostate> sink;  // done is only ever closed, never sent on
    cw.who = &p;
    cw.must_claim = true;
    cw.elem = &sink;
    blocked_io self{pd, done, &w, &cw, mode};
    (mode == io_mode::read ? pd->rq : pd->wq).push_back(&w);
    if (done) done->recvq.push_back(&cw);
    bool woken;
    if (dl == 0) {
      p.cancel = &cancel_io;
      p.cancel_arg = &self;
      detail::parker_block(p, detail::wait_reason::io, &unlock_both, &self);
      woken = true;
    } else {
      woken = detail::parker_block_until(p, dl, detail::wait_reason::io, &unlock_both, &self);
    }
    if (!woken) {
      // Our deadline timer won: leave both queues, then look again (the
      // deadline may have been moved meanwhile).
      lock_both(pd, done);
      remove_both(self);
      unlock_both(&self);
      continue;
    }
    // A waker took its own waiter off its queue; the other may still be on
    // its queue.
    lock_both(pd, done);
    remove_both(self);
    unlock_both(&self);
    if (p.fired == &cw) return io_result::canceled;
    if (p.fired == &w && w.ok) return io_result::ready;
    // Closing, or a deadline changed: look again.
  }
}

void pd_set_deadline(poll_desc* pd, bool read, bool write, std::int64_t when) noexcept {
  detail::waiter* wake = nullptr;
  pd->lock.lock();
  if (read) {
    pd->rdeadline = when;
    pop_all(pd->rq, false, &wake);
  }
  if (write) {
    pd->wdeadline = when;
    pop_all(pd->wq, false, &wake);
  }
  pd->lock.unlock();
  wake_all(wake);
}

int pd_event(std::uint64_t data, std::uint32_t events) noexcept {
  auto* pd = reinterpret_cast<poll_desc*>(static_cast<std::uintptr_t>(data & ptr_mask));
  const auto tag = static_cast<std::uint32_t>(data >> tag_shift);
  const bool r = (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
  const bool wr = (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
  detail::waiter* wake = nullptr;
  int n = 0;
  pd->lock.lock();
  if ((pd->seq & 0xffffu) != tag || pd->fd < 0) {  // a stale event: the record was retired
    pd->lock.unlock();
    return 0;
  }
  // An edge with nobody waiting is kept for the next wait (no lost edge).
  if (r) {
    const int k = pop_all(pd->rq, true, &wake);
    if (k == 0) pd->rready.store(true, std::memory_order_relaxed);
    n += k;
  }
  if (wr) {
    const int k = pop_all(pd->wq, true, &wake);
    if (k == 0) pd->wready.store(true, std::memory_order_relaxed);
    n += k;
  }
  pd->lock.unlock();
  wake_all(wake);
  return n;
}

bool netpoll_has_waiters(runtime* rt) noexcept {
  // No record, no waiter (and no lock for the runtimes without I/O).
  if (rt->poll.records_open.load(std::memory_order_seq_cst) == 0) return false;
  std::lock_guard<futex_lock> l(rt->poll.records_lock);
  for (poll_desc* pd = rt->poll.records; pd; pd = pd->next) {
    std::lock_guard<detail::spinlock> pl(pd->lock);
    if (!pd->rq.empty() || !pd->wq.empty()) return true;
  }
  return false;
}

void pd_orphan_all(runtime* rt) noexcept {
  // Every fiber of rt has finished; a thread outside that still waits on a
  // record gets io_result::closed. Woken after records_lock is released
  // (checkdead takes it under the sched lock, which a wake may need).
  detail::waiter* wake = nullptr;
  {
    std::lock_guard<futex_lock> l(rt->poll.records_lock);
    while (poll_desc* pd = rt->poll.records) {
      rt->poll.records = pd->next;
      rt->poll.records_open.fetch_sub(1, std::memory_order_seq_cst);
      pd->prev = pd->next = nullptr;
      pd->lock.lock();
      pd->rt = nullptr;
      pd->closing = true;
      pop_all(pd->rq, false, &wake);
      pop_all(pd->wq, false, &wake);
      pd->lock.unlock();
    }
  }
  wake_all(wake);
}

}  // namespace goro::rt
