// P state and ownership changes (Go's acquirep / releasep).
#include "sched/p.hpp"

#include "debug/fatal.hpp"
#include "sched/m.hpp"
#include "sched/retake.hpp"

namespace goro::rt {

const char* to_string(pstatus s) noexcept {
  switch (s) {
    case pstatus::idle: return "idle";
    case pstatus::running: return "running";
    case pstatus::syscall: return "blocking call";
    case pstatus::taken: return "taken by sysmon";
  }
  return "?";
}

bool pstatus_transition_ok(pstatus from, pstatus to) noexcept {
  switch (from) {
    case pstatus::idle: return to == pstatus::running;
    case pstatus::running: return to == pstatus::idle || to == pstatus::syscall || to == pstatus::taken;
    case pstatus::syscall: return to == pstatus::running || to == pstatus::taken;
    case pstatus::taken: return to == pstatus::running || to == pstatus::idle;
  }
  return false;
}

void bad_pstatus(const P* p, pstatus seen, pstatus from, pstatus to, const char* fn) noexcept {
  fatalf(fn, "P %d: bad state transition %s -> %s (state is %s)", p->id, to_string(from), to_string(to),
         to_string(seen));
}

void acquirep(M* m, P* p) {
  GORO_CHECK(m->p == nullptr, "M already holds a P");
  GORO_CHECK(p->m == nullptr, "P already held by another M");
  // From idle (off the idle list) or taken (handed over by handoffp);
  // anything else dies in the check.
  const pstatus from = p->status.load(std::memory_order_relaxed);
  caspstatus(p, from == pstatus::taken ? pstatus::taken : pstatus::idle, pstatus::running, "acquirep");
  m->p = p;
  p->m = m;
  // A new ownership generation (retake.hpp). Only the acquirer writes own
  // here; an attempt by sysmon on the old generation fails its CAS.
  const std::uint64_t gen = (p->own.load(std::memory_order_relaxed) >> 2) + 1;
  m->p_gen = gen;
  p->owner.store(m, std::memory_order_relaxed);
  p->own.store(gen << 2 | own_owned, std::memory_order_release);  // after owner: sysmon reads own, then owner
}

P* releasep(M* m) {
  P* p = m->p;
  GORO_CHECK(p != nullptr && p->m == m, "M does not hold its P");
  const std::uint64_t gen = (p->own.load(std::memory_order_relaxed) >> 2) + 1;
  p->own.store(gen << 2 | own_none, std::memory_order_release);
  p->owner.store(nullptr, std::memory_order_relaxed);
  p->m = nullptr;
  m->p = nullptr;
  return p;
}

}  // namespace goro::rt
