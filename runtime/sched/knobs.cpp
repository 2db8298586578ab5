// Resolving the scheduler knobs: options::knobs, then GORO_SCHED for the
// fields left at their defaults (the contract is in knobs.hpp and
// goro/runtime.hpp).
#include "sched/knobs.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace goro::rt {

namespace {

constexpr const char* all_keys = "runnext, steal, handoff, direct, spin, globalq, steal_amount, slice_us";

// The whole of v as a decimal integer in [lo, hi].
bool parse_int(std::string_view v, std::int64_t lo, std::int64_t hi, std::int64_t& out) {
  std::int64_t x = 0;
  const char* end = v.data() + v.size();
  const auto r = std::from_chars(v.data(), end, x);
  if (r.ec != std::errc{} || r.ptr != end || x < lo || x > hi) return false;
  out = x;
  return true;
}

bool parse_bool(std::string_view v, bool& out) {
  if (v != "0" && v != "1") return false;
  out = v == "1";
  return true;
}

}  // namespace

std::vector<std::string> apply_sched_env(std::string_view text, const goro::sched_knobs& asked, knob_set& k) {
  const goro::sched_knobs def{};
  std::vector<std::string> ignored;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view entry = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (entry.empty()) continue;  // a doubled or trailing comma
    auto reject = [&](const char* why) { ignored.push_back("\"" + std::string(entry) + "\": " + why); };
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos) {
      reject("not key=value");
      continue;
    }
    const std::string_view key = entry.substr(0, eq);
    const std::string_view val = entry.substr(eq + 1);
    bool b = false;
    std::int64_t n = 0;
    // Each key: parse, then apply only where options::knobs left the field
    // at its default (the program's own choice wins, as with GORO_MAXPROCS).
    if (key == "runnext") {
      if (!parse_bool(val, b)) reject("runnext takes 0 or 1");
      else if (asked.runnext == def.runnext) k.runnext = b;
    } else if (key == "steal") {
      if (!parse_bool(val, b)) reject("steal takes 0 or 1");
      else if (asked.steal == def.steal) k.steal = b;
    } else if (key == "handoff") {
      if (!parse_bool(val, b)) reject("handoff takes 0 or 1");
      else if (asked.spawn_handoff == def.spawn_handoff) k.spawn_handoff = b;
    } else if (key == "direct") {
      if (!parse_bool(val, b)) reject("direct takes 0 or 1");
      else if (asked.direct_switch == def.direct_switch) k.direct_switch = b;
    } else if (key == "spin") {
      if (!parse_int(val, -1, INT32_MAX, n)) reject("spin takes -1 (Go's rule), 0 (no spinning) or a positive limit");
      else if (asked.spinning_limit == def.spinning_limit) k.spinning_limit = static_cast<std::int32_t>(n);
    } else if (key == "globalq") {
      if (!parse_int(val, 0, INT32_MAX, n)) reject("globalq takes a whole number >= 0");
      else if (asked.global_check == def.global_check) k.global_check = static_cast<std::uint32_t>(n);
    } else if (key == "steal_amount") {
      if (val != "half" && val != "one") reject("steal_amount takes half or one");
      else if (asked.amount == def.amount) k.steal_one = val == "one";
    } else if (key == "slice_us") {
      if (!parse_int(val, 1, max_time_slice_us, n)) reject("slice_us takes microseconds from 1 to 3600000000 (an hour)");
      else if (asked.time_slice == def.time_slice) k.time_slice_ns = n * 1000;
    } else {
      ignored.push_back("\"" + std::string(entry) + "\": unknown key (the keys are " + all_keys + ")");
    }
  }
  return ignored;
}

knob_set resolve_knobs(const goro::sched_knobs& asked) {
  using steal_amount = goro::sched_knobs::steal_amount;
  if (asked.spinning_limit < -1)
    throw std::invalid_argument("goro::run: options::knobs.spinning_limit must be -1, 0 or positive");
  if (asked.global_check < 0) throw std::invalid_argument("goro::run: options::knobs.global_check must be >= 0");
  const std::int64_t slice_us = asked.time_slice.count();
  if (slice_us < 1 || slice_us > max_time_slice_us)
    throw std::invalid_argument("goro::run: options::knobs.time_slice must be from 1 us to an hour");
  if (asked.amount != steal_amount::half && asked.amount != steal_amount::one)
    throw std::invalid_argument("goro::run: options::knobs.amount must be steal_amount::half or ::one");
  knob_set k;
  k.runnext = asked.runnext;
  k.steal = asked.steal;
  k.steal_one = asked.amount == steal_amount::one;
  k.spawn_handoff = asked.spawn_handoff;
  k.direct_switch = asked.direct_switch;
  k.spinning_limit = asked.spinning_limit;
  k.global_check = static_cast<std::uint32_t>(asked.global_check);
  k.time_slice_ns = slice_us * 1000;
  if (const char* env = std::getenv("GORO_SCHED"); env && *env) {
    for (const std::string& why : apply_sched_env(env, asked, k))
      std::fprintf(stderr, "goro: ignoring invalid GORO_SCHED entry %s\n", why.c_str());
  }
  return k;
}

}  // namespace goro::rt
