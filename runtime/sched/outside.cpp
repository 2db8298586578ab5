// Outside threads that may wake fibers (the design is in outside.hpp and
// include/goro/detail/thread_role.hpp).
#include "sched/outside.hpp"

#include <atomic>
#include <mutex>

#include "debug/checkdead.hpp"
#include "goro/detail/thread_role.hpp"
#include "sched/m.hpp"
#include "sched/runtime.hpp"

namespace goro::detail {

constinit thread_local thread_role this_thread_role = thread_role::unknown;

}  // namespace goro::detail

namespace goro::rt {

namespace {

using detail::thread_role;

// relaxed everywhere: see outside_threads() in outside.hpp; the runtime's
// lock orders the count against each deadlock check.
constinit std::atomic<std::int64_t> outside_count{0};

// The live runtimes, linked through runtime::next_live. Constant-initialised
// and never destroyed, so that a thread exiting during the process's own
// exit still finds them. Lock order: live_lock, then a runtime's lock.
constinit std::mutex live_lock;
constinit runtime* live_head = nullptr;

void recheck_live_runtimes() noexcept {
  std::lock_guard<std::mutex> l(live_lock);
  for (runtime* rt = live_head; rt != nullptr; rt = rt->next_live) {
    std::lock_guard<futex_lock> rl(rt->lock);
    if (!rt->done) checkdead(rt);
  }
}

// Constructed on a thread's first use of a goro object as an outside
// thread; destroyed when that thread exits.
struct outside_thread_exit {
  ~outside_thread_exit() {
    // The role stays `outside`, so that a goro object used later in this
    // thread's exit (another thread_local's destructor) does not count the
    // thread again: it would never be uncounted.
    if (detail::this_thread_role != thread_role::outside) return;  // cannot exit while an M
    if (outside_count.fetch_sub(1, std::memory_order_relaxed) == 1) recheck_live_runtimes();
  }
};

}  // namespace

std::int64_t outside_threads() noexcept { return outside_count.load(std::memory_order_relaxed); }

void enter_runtime_role(M* m) noexcept {
  m->saved_role = detail::this_thread_role;
  if (m->saved_role == thread_role::outside) outside_count.fetch_sub(1, std::memory_order_relaxed);
  detail::this_thread_role = thread_role::runtime;
}

void leave_runtime_role(M* m) noexcept {
  // A thread that was outside before counts again; one that was unknown is
  // classified afresh at its next use.
  detail::this_thread_role = m->saved_role;
  if (m->saved_role == thread_role::outside) outside_count.fetch_add(1, std::memory_order_relaxed);
}

void add_live_runtime(runtime* rt) noexcept {
  static std::int32_t next_id = 0;  // under live_lock
  std::lock_guard<std::mutex> l(live_lock);
  rt->id = ++next_id;
  rt->next_live = live_head;
  live_head = rt;
}

void remove_live_runtime(runtime* rt) noexcept {
  std::lock_guard<std::mutex> l(live_lock);
  for (runtime** p = &live_head; *p != nullptr; p = &(*p)->next_live)
    if (*p == rt) {
      *p = rt->next_live;
      return;
    }
}

void for_each_live_runtime(void (*fn)(runtime* rt, void* arg), void* arg) {
  std::lock_guard<std::mutex> l(live_lock);
  for (runtime* rt = live_head; rt != nullptr; rt = rt->next_live) fn(rt, arg);
}

}  // namespace goro::rt

namespace goro::detail {

void note_outside_thread() noexcept {
  // Threads that become Ms are marked `runtime` by minit before they run
  // anything, so an unknown role here means a thread outside every runtime.
  static thread_local rt::outside_thread_exit on_exit;
  (void)on_exit;
  this_thread_role = thread_role::outside;
  rt::outside_count.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace goro::detail
