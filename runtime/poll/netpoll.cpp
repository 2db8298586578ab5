// The epoll instance of a runtime and polling it (see netpoll.hpp).
#include "poll/netpoll.hpp"

#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <mutex>
#include <system_error>

#include "debug/fatal.hpp"
#include "sched/m.hpp"
#include "os/clock.hpp"
#include "poll/poll_desc.hpp"
#include "sched/runtime.hpp"

#include "trace/trace.hpp"

namespace goro::rt {

namespace {

constexpr std::uint64_t break_tag = 0;  // epoll data of the eventfd (no record is at address 0)
constexpr int max_events = 128;

void drain_break(poller& pl) noexcept {
  std::uint64_t v;
  while (read(pl.evfd, &v, sizeof v) > 0) {
  }
  // seq_cst: after the drain, so a break written before this store has
  // been consumed and one after it writes again.
  pl.break_pending.store(false, std::memory_order_seq_cst);
}

}  // namespace

void netpoll_init(runtime* rt) {
  poller& pl = rt->poll;
  if (pl.ready.load(std::memory_order_acquire)) return;
  std::lock_guard<futex_lock> l(pl.init_lock);
  if (pl.ready.load(std::memory_order_relaxed)) return;
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) throw std::system_error(errno, std::generic_category(), "goro: epoll_create1");
  const int ev = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (ev < 0) {
    const int err = errno;
    close(ep);
    throw std::system_error(err, std::generic_category(), "goro: eventfd");
  }
  epoll_event e{};
  e.events = EPOLLIN;  // level-triggered: every poller sees it until one drains it
  e.data.u64 = break_tag;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) != 0) {
    const int err = errno;
    close(ev);
    close(ep);
    throw std::system_error(err, std::generic_category(), "goro: epoll_ctl (eventfd)");
  }
  pl.epfd = ep;
  pl.evfd = ev;
  // release: a poller that sees `ready` sees the descriptors.
  pl.ready.store(true, std::memory_order_release);
}

void netpoll_close(runtime* rt) {
  poller& pl = rt->poll;
  if (!pl.ready.load(std::memory_order_acquire)) return;
  pd_orphan_all(rt);
  // acquire: a pd_free that used the runtime has finished with it (its
  // release decrement). A short wait: each holds it for an epoll_ctl.
  while (pl.freeing.load(std::memory_order_acquire) != 0) sched_yield();
  close(pl.evfd);
  close(pl.epfd);
  pl.evfd = pl.epfd = -1;
  pl.ready.store(false, std::memory_order_relaxed);  // no thread of the runtime is left to poll
}

int netpoll(runtime* rt, std::int64_t until) {
  poller& pl = rt->poll;
  if (!pl.ready.load(std::memory_order_acquire)) return 0;
  epoll_event evs[max_events];
  int n;
  if (until == 0) {
    n = epoll_wait(pl.epfd, evs, max_events, 0);
  } else if (until == INT64_MAX) {
    n = epoll_wait(pl.epfd, evs, max_events, -1);
  } else {
    // epoll_pwait2 takes nanoseconds: the nearest timer is not rounded up
    // to a millisecond.
    std::int64_t left = until - now_ns();
    if (left < 0) left = 0;
    const timespec ts = to_timespec(left);
    n = epoll_pwait2(pl.epfd, evs, max_events, &ts, nullptr);
    if (n < 0 && errno == ENOSYS) {  // kernels before 5.11
      const std::int64_t ms = (left + 999'999) / 1'000'000;
      n = epoll_wait(pl.epfd, evs, max_events, static_cast<int>(ms < INT32_MAX ? ms : INT32_MAX));
    }
  }
  if (n < 0) {
    if (errno == EINTR) return 0;
    fatal("netpoll", "epoll_wait failed");
  }
  pl.last_poll.store(now_ns(), std::memory_order_relaxed);
  if (n == 0) return 0;
  // seq_cst: see poller::delivering.
  pl.delivering.fetch_add(1, std::memory_order_seq_cst);
  int woken = 0;
  const trace::source_scope from_poller(trace::from::poller);
  for (int i = 0; i < n; i++) {
    if (evs[i].data.u64 == break_tag) {
      // Only a blocking poll (the timed sleeper's) drains the break: it is
      // meant for that poll. A non-blocking poller (an M looking for work,
      // sysmon) that drained it first would leave the blocked one asleep,
      // as the kernel re-checks a level-triggered descriptor before
      // returning it.
      if (until != 0) drain_break(pl);
      continue;
    }
    woken += pd_event(evs[i].data.u64, evs[i].events);
  }
  pl.delivering.fetch_sub(1, std::memory_order_seq_cst);
  if (trace::enabled()) trace::netpolled(rt, current_m(), woken);
  return woken;
}

void netpoll_break(runtime* rt) noexcept {
  poller& pl = rt->poll;
  if (!pl.ready.load(std::memory_order_acquire)) return;
  // seq_cst: pairs with drain_break's store.
  if (pl.break_pending.exchange(true, std::memory_order_seq_cst)) return;
  const std::uint64_t one = 1;
  for (;;) {
    if (write(pl.evfd, &one, sizeof one) == sizeof one) return;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return;  // the counter is full: a wake-up is pending anyway
    fatal("netpoll_break", "eventfd write failed");
  }
}

}  // namespace goro::rt
