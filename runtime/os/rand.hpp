// A small fast PRNG (xorshift64*, Vigna 2016) for scheduling choices: steal
// order, select's case order, randomised scheduling. Not for anything that
// needs unpredictability. The state must be nonzero.
#pragma once

#include <cstdint>

namespace goro::rt {

struct xorshift {
  std::uint64_t s = 0;

  // A nonzero state derived from any value (an address, a counter).
  static xorshift seeded(std::uint64_t seed) noexcept { return {seed * 0x9E3779B97F4A7C15ULL | 1}; }

  std::uint32_t next() noexcept {
    std::uint64_t x = s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s = x;
    return static_cast<std::uint32_t>((x * 0x2545F4914F6CDD1DULL) >> 32);
  }
};

}  // namespace goro::rt
