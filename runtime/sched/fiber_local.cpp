// goro::fiber_local: ids (process-wide) and per-G slots (the design is in
// sched/fiber_local.hpp and goro/fiber_local.hpp).
#include "sched/fiber_local.hpp"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

#include "debug/fatal.hpp"
#include "goro/fiber_local.hpp"
#include "sched/caller.hpp"
#include "sched/g.hpp"

namespace goro::rt {

namespace {

constexpr int max_destroy_passes = 16;

// Ids of fiber_local objects: process-wide, since a fiber_local is not tied
// to a runtime (a static one serves every goro::run). Taken only when a
// fiber_local is made or destroyed, never by get().
struct id_registry {
  std::mutex mu;
  std::uint32_t next = 0;
  std::uint64_t gen = 0;
  std::vector<std::uint32_t> free;
};

id_registry& ids() {
  static id_registry* r = new id_registry;  // never destroyed: fiber_locals may outlive static destruction order
  return *r;
}

G* calling_fiber(const char* fn) {
  const caller c = classify();
  if (c.kind == caller_kind::fiber || c.kind == caller_kind::blocking) return c.g;
  throw std::logic_error(std::string(fn) + ": must be called from a fiber (use thread_local on a plain thread)");
}

fiber_local_slot* slot_for(G* g, std::uint32_t index) {
  if (index >= g->nlocals) {
    std::uint32_t n = g->nlocals ? g->nlocals : 4;
    while (n <= index) n *= 2;
    void* p = std::realloc(g->locals, n * sizeof(fiber_local_slot));
    if (p == nullptr) throw std::bad_alloc();
    auto* slots = static_cast<fiber_local_slot*>(p);
    for (std::uint32_t i = g->nlocals; i < n; i++) ::new (&slots[i]) fiber_local_slot();
    g->locals = slots;
    g->nlocals = n;
  }
  return &g->locals[index];
}

}  // namespace

void destroy_fiber_locals(G* g) {
  // g is the calling fiber: its M may change inside a destructor, g does not.
  for (int pass = 0;; pass++) {
    bool any = false;
    // Re-read g->locals on every step: a destructor's get() may grow it.
    for (std::uint32_t i = 0; i < g->nlocals; i++) {
      fiber_local_slot& s = g->locals[i];
      if (s.value == nullptr) continue;
      void* v = s.value;
      void (*destroy)(void*) noexcept = s.destroy;
      s = fiber_local_slot();
      any = true;
      destroy(v);
    }
    if (!any) return;
    if (pass + 1 >= max_destroy_passes)
      fatalf("goro::fiber_local", "fiber %llu: destructors still create fiber_local values after %d passes",
             static_cast<unsigned long long>(goid_of(g)), max_destroy_passes);
  }
}

void free_fiber_local_slots(G* g) noexcept {
  std::free(g->locals);
  g->locals = nullptr;
  g->nlocals = 0;
}

}  // namespace goro::rt

namespace goro::detail {

using namespace goro::rt;

fiber_local_key fiber_local_new() {
  id_registry& r = ids();
  std::lock_guard<std::mutex> l(r.mu);
  std::uint32_t index;
  if (!r.free.empty()) {
    index = r.free.back();
    r.free.pop_back();
  } else {
    index = r.next++;
  }
  return {index, ++r.gen};
}

void fiber_local_delete(fiber_local_key k) noexcept {
  id_registry& r = ids();
  std::lock_guard<std::mutex> l(r.mu);
  try {
    r.free.push_back(k.index);
  } catch (...) {
    // Out of memory: the id is simply not reused.
  }
}

void* fiber_local_find(fiber_local_key k) {
  G* g = calling_fiber("goro::fiber_local::get");
  if (k.index >= g->nlocals) return nullptr;
  const fiber_local_slot& s = g->locals[k.index];
  return s.gen == k.gen ? s.value : nullptr;
}

void* fiber_local_store(fiber_local_key k, void* value, void (*destroy)(void*) noexcept) {
  for (;;) {
    // Re-found every time: T's constructor, or the stale value's
    // destructor below, may have switched (the G stays the same; the
    // array may have grown).
    G* g = calling_fiber("goro::fiber_local::get");
    fiber_local_slot* s = slot_for(g, k.index);
    if (s->value != nullptr && s->gen == k.gen) return s->value;
    if (s->value != nullptr) {
      // A value of a destroyed fiber_local whose id k reuses: destroy it
      // now, on this fiber, then look again.
      void* old = s->value;
      void (*old_destroy)(void*) noexcept = s->destroy;
      *s = fiber_local_slot();
      old_destroy(old);
      continue;
    }
    s->value = value;
    s->destroy = destroy;
    s->gen = k.gen;
    return value;
  }
}

}  // namespace goro::detail
