// The runtime's side of goro::fiber_local (goro/fiber_local.hpp): each G
// owns an array of slots indexed by fiber_local id. Only the fiber itself
// touches its slots (while it runs, and at its end in fiber_main), so they
// need no lock; the array stays with the G across reuse and is freed with
// the G.
#pragma once

#include <cstdint>

namespace goro::rt {

struct G;

struct fiber_local_slot {
  void* value = nullptr;               // owned; null: no value
  void (*destroy)(void*) noexcept = nullptr;
  std::uint64_t gen = 0;               // the fiber_local the value belongs to
};

// The fiber g's function has returned: destroy its values, on g itself (a
// destructor may park, migrate, and create values anew: passes repeat until
// none is left).
void destroy_fiber_locals(G* g);
// The G's memory goes: free its slot array (values already destroyed).
void free_fiber_local_slots(G* g) noexcept;

}  // namespace goro::rt
