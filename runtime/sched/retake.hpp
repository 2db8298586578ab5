// Taking a P away from an M that is running user code (sysmon's retake),
// without that M's cooperation and without a signal.
//
// Why: a fiber inside goro::blocking, or one that computes for a long time
// without calling into the runtime, keeps its P, so the other fibers of that
// P cannot run. sysmon takes the P and hands it to another M; the old M
// goes on running its fiber without a P, and finds out at its next runtime
// call (then it queues or parks that fiber and goes idle). No fiber is ever
// interrupted, so this is safe for any C++ code (malloc, std::mutex, libc).
//
// The protocol. An M marks itself in user code (in_rt = false) and in the
// runtime (in_rt = true); everything that touches its P happens with
// in_rt = true. P::own holds generation << 2 | state.
//
//   M entering the runtime:  in_rt = true; FENCE_LIGHT; read own
//                             == (gen, owned)  -> still ours (fast path)
//                             == (gen, trying) -> CAS to (gen, owned): cancel
//                             else             -> taken: m->p = nullptr
//   sysmon taking:            CAS own (gen, owned) -> (gen, trying);
//                             FENCE_HEAVY; read owner's in_rt
//                             true  -> CAS back to (gen, owned), give up
//                             false -> CAS (gen, trying) -> (gen, taken)
//
// A Dekker pair: with the fences, either the M sees the attempt or sysmon
// sees in_rt = true; the final CASes decide a race between the M cancelling
// and sysmon committing. The M's side runs on every runtime call, so it is
// made cheap with membarrier(2) (os/membarrier.hpp): FENCE_HEAVY is a
// process-wide barrier and FENCE_LIGHT only a compiler barrier.
//
// Once sysmon has taken the P, it moves it to state `taken` (p.hpp) and
// hands it off (handoffp); runtime::sysmon_taking covers the moments from
// the attempt until the P is in an M's hands or on the idle list.
//
// acquirep starts a new generation (state owned) and releasep one in state
// "not owned", so an attempt on a P that changed hands fails its CAS.
// in_rt = false is a release store and sysmon's read an acquire: the
// M's earlier accesses to the P happen before whoever gets it next.
#pragma once

#include <atomic>
#include <cstdint>

#include "os/membarrier.hpp"
#include "sched/m.hpp"
#include "sched/p.hpp"

namespace goro::rt {

inline constexpr std::uint64_t own_owned = 0;
inline constexpr std::uint64_t own_trying = 1;
inline constexpr std::uint64_t own_taken = 2;
inline constexpr std::uint64_t own_none = 3;

// The slow half of enter_runtime: cancel sysmon's attempt, or find the P
// taken.
P* enter_runtime_slow(M* m, P* p) noexcept;

// A fiber's code calls into the runtime. Returns the M's P, now safe from
// sysmon until leave_runtime, or nullptr when sysmon took it (m->p is then
// cleared; the caller carries on without a P).
inline P* enter_runtime(M* m) noexcept {
  // relaxed + fence: see the protocol above.
  m->in_rt.store(true, std::memory_order_relaxed);
  fence_light();
  P* p = m->p;
  if (p == nullptr) return nullptr;
  // acquire: on "taken", sysmon's writes before its commit are visible.
  if (__builtin_expect(p->own.load(std::memory_order_acquire) == (m->p_gen << 2), 1)) return p;
  return enter_runtime_slow(m, p);
}

// Back to user code: from here on sysmon may take the P.
inline void leave_runtime(M* m) noexcept {
  // release: our accesses to the P happen before a taker's (see above).
  m->in_rt.store(false, std::memory_order_release);
}

// sysmon: try to take p, seen with ownership word `own` (state owned) and
// owner m. True if p is now sysmon's to hand off.
bool try_take_p(P* p, M* m, std::uint64_t own) noexcept;

}  // namespace goro::rt
