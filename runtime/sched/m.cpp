// M state, set-up and the calling thread's M.
#include "sched/m.hpp"

#include <pthread.h>
#include <unistd.h>

#include <memory>

#include "debug/fatal.hpp"
#include "debug/overflow.hpp"
#include "sched/outside.hpp"
#include "sched/runtime.hpp"

namespace goro::rt {

namespace {

thread_local M* tls_m = nullptr;

}  // namespace

const char* to_string(mstatus s) noexcept {
  switch (s) {
    case mstatus::spare: return "spare";
    case mstatus::idle: return "idle";
    case mstatus::spinning: return "spinning";
    case mstatus::running: return "running";
    case mstatus::syscall: return "blocking call";
    case mstatus::locked: return "locked, waiting for its fiber";
    case mstatus::retired: return "retired";
  }
  return "?";
}

bool mstatus_transition_ok(mstatus from, mstatus to) noexcept {
  switch (from) {
    case mstatus::spare: return to == mstatus::idle;
    case mstatus::idle: return to == mstatus::running || to == mstatus::spinning;
    case mstatus::spinning: return to == mstatus::running;
    case mstatus::running:
      return to == mstatus::idle || to == mstatus::spinning || to == mstatus::syscall || to == mstatus::locked ||
             to == mstatus::retired;
    case mstatus::syscall: return to == mstatus::running;
    case mstatus::locked: return to == mstatus::running;
    case mstatus::retired: return false;
  }
  return false;
}

void bad_mstatus(const M* m, mstatus seen, mstatus from, mstatus to, const char* fn) noexcept {
  fatalf(fn, "M %lld: bad state transition %s -> %s (state is %s)", static_cast<long long>(m->id), to_string(from),
         to_string(to), to_string(seen));
}

M* current_m() noexcept {
  // Opaque to the optimiser (see m.hpp): the empty asm keeps the compiler
  // from treating this function as pure and reusing an earlier result.
  asm volatile("");
  return tls_m;
}

void set_current_m(M* m) noexcept { tls_m = m; }

}  // namespace goro::rt

namespace goro::detail {

// On every uncontended mutex lock (goro::mutex::note_holder): one call,
// reading tls_m directly (no switch happens in here, so no stale thread
// pointer either).
std::uint64_t current_fiber_id() noexcept {
  const rt::M* m = rt::tls_m;
  const rt::G* g = m != nullptr ? m->curg : nullptr;
  return g != nullptr ? rt::goid_of(g) : 0;
}

}  // namespace goro::detail

namespace goro::rt {

M* allocm(runtime* rt, mstatus st) {
  rt->allm.push_back(std::make_unique<M>());
  M* m = rt->allm.back().get();
  m->id = static_cast<std::int64_t>(rt->allm.size()) - 1;
  m->rt = rt;
  m->rng = xorshift::seeded(reinterpret_cast<std::uintptr_t>(m));
  m->status.store(st, std::memory_order_relaxed);
  rt->mcount++;
  return m;
}

void minit(M* m) {
  set_current_m(m);
  init_thread_context(m->g0);
  m->slots = thread_slots::current();
  m->has_cpu_clock = pthread_getcpuclockid(pthread_self(), &m->cpu_clock) == 0;
  m->tid = gettid();
  enter_runtime_role(m);
  install_altstack(m);
}

void mexit(M* m) {
  remove_altstack(m);
  leave_runtime_role(m);
  set_current_m(nullptr);
}

}  // namespace goro::rt
