// The select engine (Go's selectgo).
//
// select in three passes, as in Go:
//  1. Lock every channel of the select (each once, in address order: two
//     selects locking overlapping sets can never wait on each other), then
//     try the cases in a random order; the first ready one completes.
//  2. None ready (and no default): queue one waiter per case, all sharing one
//     parker, and block; the locks are released only once the blocked party
//     can no longer miss a wake-up.
//  3. A partner (or close) claims the parker with a CAS on parker::claimed,
//     completes that case and wakes us; partners on the other channels find
//     the claim taken and skip our entries. Once awake we lock everything
//     again and take our remaining entries off the other queues.
#include <cstdint>
#include "goro/detail/thread_role.hpp"

#include "goro/detail/chan_core.hpp"
#include "os/rand.hpp"
#include "sched/caller.hpp"
#include "sched/m.hpp"

namespace goro::detail {

namespace {

std::uint32_t random_u32() noexcept {
  if (rt::M* m = rt::classify().m) return m->rng.next();
  // A thread outside the runtime: its own state.
  thread_local rt::xorshift x = rt::xorshift::seeded(reinterpret_cast<std::uintptr_t>(&x));
  return x.next();
}

struct locked_set {
  select_case* cases;
  const std::uint32_t* order;  // lock order: case indexes sorted by channel address
  std::uint32_t n;             // entries in order (nil cases left out)
  const waiter* waiters;       // one per case; a destroyed channel orphaned its waiters

  // A channel destroyed while we were queued on it (all its cases' waiters
  // are orphaned together) is skipped: it is gone.
  bool live(std::uint32_t k) const noexcept { return !waiters[order[k]].orphaned; }
  void lock() const noexcept {
    chan_core* last = nullptr;
    for (std::uint32_t k = 0; k < n; k++) {
      chan_core* c = cases[order[k]].c;
      if (c != last && live(k)) c->lock.lock();  // a channel in several cases: lock once
      last = c;
    }
  }
  void unlock() const noexcept {
    // Reverse order; each channel once.
    for (std::uint32_t k = n; k-- > 0;) {
      chan_core* c = cases[order[k]].c;
      if ((k == 0 || cases[order[k - 1]].c != c) && live(k)) c->lock.unlock();
    }
  }
  static void unlock_fn(void* s) noexcept { static_cast<const locked_set*>(s)->unlock(); }
  // Take our waiters off their queues (locks held).
  void remove_all(waiter* w) const noexcept {
    for (std::uint32_t k = 0; k < n; k++) {
      const std::uint32_t i = order[k];
      if (live(k)) (cases[i].is_send ? cases[i].c->sendq : cases[i].c->recvq).remove(&w[i]);
    }
  }
};

struct blocked_select {
  const locked_set* locks;
  waiter* waiters;
  parker* p;
};

// The cancel hook (goro/detail/wait.hpp, parker): win the claim, as a
// partner would, then take every waiter off its queue. A lost claim means
// a partner or close() is completing a case and wakes us.
bool cancel_select(void* arg) noexcept {
  auto* b = static_cast<blocked_select*>(arg);
  b->locks->lock();
  const bool ours = parker_claim(*b->p);
  if (ours) b->locks->remove_all(b->waiters);
  b->locks->unlock();
  return ours;
}

}  // namespace

int select_impl(select_case* cases, waiter* waiters, std::uint32_t* scratch, std::uint32_t n,
                bool has_default) {
  goro::detail::note_thread_use();
  std::uint32_t* poll = scratch;       // random permutation of the cases
  std::uint32_t* order = scratch + n;  // non-nil cases by channel address
  std::uint32_t nlock = 0;
  for (std::uint32_t i = 0; i < n; i++) {
    // Inside-out Fisher-Yates.
    const std::uint32_t j = static_cast<std::uint32_t>((std::uint64_t(random_u32()) * (i + 1)) >> 32);
    poll[i] = poll[j];
    poll[j] = i;
    if (cases[i].c == nullptr) continue;
    // Insertion sort by address (selects are small).
    std::uint32_t k = nlock++;
    while (k > 0 && cases[order[k - 1]].c > cases[i].c) {
      order[k] = order[k - 1];
      k--;
    }
    order[k] = i;
  }
  if (nlock == 0) {
    if (has_default) return -1;
    block_forever(wait_reason::select_no_cases);
  }
  const locked_set locks{cases, order, nlock, waiters};

  // Pass 1: a case ready now.
  locks.lock();
  for (std::uint32_t k = 0; k < n; k++) {
    const std::uint32_t i = poll[k];
    select_case& sc = cases[i];
    if (sc.c == nullptr) continue;
    waiter* wake = nullptr;
    const op_result r = sc.is_send ? sc.c->ops->send(sc.c, sc.elem, &wake) : sc.c->ops->recv(sc.c, sc.elem, &wake);
    if (r == op_result::blocked) continue;
    locks.unlock();
    if (wake) parker_wake(*wake->who);
    if (r == op_result::closed && sc.is_send) throw closed_channel_error("goro::select: send on closed channel");
    return static_cast<int>(i);
  }
  if (has_default) {
    locks.unlock();
    return -1;
  }

  // Pass 2: wait on every case at once.
  parker p;
  parker_init(p);
  for (std::uint32_t k = 0; k < nlock; k++) {
    const std::uint32_t i = order[k];
    waiter& w = waiters[i];
    w.who = &p;
    w.elem = cases[i].elem;
    w.must_claim = true;
    w.ok = false;
    w.case_index = i;
    (cases[i].is_send ? cases[i].c->sendq : cases[i].c->recvq).push_back(&w);
  }
  blocked_select self{&locks, waiters, &p};
  p.cancel = &cancel_select;
  p.cancel_arg = &self;
  parker_block(p, wait_reason::select, &locked_set::unlock_fn, const_cast<locked_set*>(&locks));

  // Pass 3: the claimer set p.fired (wait_list::pop); take our other entries off their queues.
  waiter* fired = p.fired;
  locks.lock();
  locks.remove_all(waiters);
  locks.unlock();
  const std::uint32_t i = fired->case_index;
  if (cases[i].is_send && !fired->ok) throw closed_channel_error("goro::select: channel closed while sending");
  return static_cast<int>(i);
}

}  // namespace goro::detail
