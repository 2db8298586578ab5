// The scheduler knobs of one runtime (goro::sched_knobs, the GORO_SCHED
// environment variable), resolved once before the runtime starts: which of
// the scheduler's mechanisms run, and with what parameters, so that a
// benchmark can measure what each is worth (docs/design.md, "Scheduler
// knobs", says what each switches off and where).
//
// Immutable after start: resolve_knobs fills them in before the runtime's
// first thread besides m0 exists (the thread creations order these writes
// before every read), and nothing writes them afterwards. So they are plain
// fields, read without atomics or locks. The runtime keeps them
// (runtime::knobs), and every P a copy (P::knobs), which the holder's hot
// paths read from a cache line they touch anyway (runq_put, local_pick,
// spawn_commit, pick_direct); with the defaults each check is one
// predictable branch.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "goro/runtime.hpp"

namespace goro::rt {

// Go's forcePreemptNS: the default time slice.
inline constexpr std::int64_t default_time_slice_ns = 10'000'000;
// The longest time slice accepted: an hour (a longer one is no different
// in any run a study makes, and sums of it never overflow).
inline constexpr std::int64_t max_time_slice_us = 3'600'000'000;

struct knob_set {
  bool runnext = true;          // sched_knobs::runnext
  bool steal = true;            // sched_knobs::steal
  bool steal_one = false;       // sched_knobs::amount == steal_amount::one
  bool spawn_handoff = true;    // sched_knobs::spawn_handoff
  bool direct_switch = true;    // sched_knobs::direct_switch
  std::int32_t spinning_limit = -1;  // -1: Go's rule; 0: none; n: at most n
  std::uint32_t global_check = 61;   // 0: only when the local queues are empty
  std::int64_t time_slice_ns = default_time_slice_ns;
};

// The knobs a runtime runs with: those of `asked` (options::knobs), with
// each field still at its default taken from GORO_SCHED when it sets it.
// Throws std::invalid_argument when a field of `asked` is out of range.
// Entries of GORO_SCHED that are malformed or name no key are reported on
// stderr ("goro: ignoring invalid GORO_SCHED entry ...", as the other
// GORO_ variables report a value they ignore) and skipped.
knob_set resolve_knobs(const goro::sched_knobs& asked);

// The environment half of resolve_knobs, apart for tests: applies the
// entries of `text` (GORO_SCHED's value) to k, for the fields `asked`
// leaves at their defaults. Returns one message per entry it ignored.
std::vector<std::string> apply_sched_env(std::string_view text, const goro::sched_knobs& asked, knob_set& k);

}  // namespace goro::rt
