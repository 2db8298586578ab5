// goro::fiber_local<T>: per-fiber storage, the answer to thread_local in
// fiber code (a fiber may resume on another thread after any switch, and a
// thread_local's address computed before the switch then names the old
// thread's object; README, "thread_local in fibers").
//
//   goro::fiber_local<std::string> name;     // usually a static or global
//   goro::go([&] { name.get() = "worker"; ... name.get() ... });
//
// Contract:
//  - get() returns the calling fiber's T, value-initialised (T()) on the
//    fiber's first get(). The same fiber always gets the same object,
//    whatever thread it runs on.
//  - A fiber's values are destroyed when its function returns (or the
//    fiber is unwound as a leftover, options::leftovers), on the fiber
//    itself, before its stack and control block are reused: a
//    destructor may use goro (channels, mutexes, go) and may call get() on
//    any fiber_local (a value it creates is destroyed in a later pass; a
//    destructor that keeps creating values is a fatal error after 16
//    passes). Order between a fiber's values: unspecified.
//  - get() outside a fiber (a plain thread, or the scheduler's own stack)
//    throws std::logic_error: there is no fiber to own the value (use
//    thread_local there). Inside goro::blocking the fiber's own value.
//  - Cost: get() is one call into the runtime (find the running fiber) and
//    an index into that fiber's slot array; no lock. The first get() per
//    fiber and fiber_local allocates the T (and may grow the array).
//  - Construction and destruction of a fiber_local take a process-wide
//    lock (ids are shared by every runtime, since a fiber_local may outlive
//    several). Destroying a fiber_local does not destroy the values fibers
//    still hold for it: each is destroyed when its fiber ends (or when that
//    fiber first uses a new fiber_local that reuses the id). Ids are reused;
//    a generation number keeps a new fiber_local from ever seeing an old
//    one's value.
//  - fiber_local objects themselves are not copyable or movable; get() may
//    be called concurrently from any number of fibers.
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>

namespace goro {

namespace detail {

struct fiber_local_key {
  std::uint32_t index;
  std::uint64_t gen;  // unique per fiber_local ever made in the process
};

fiber_local_key fiber_local_new();
void fiber_local_delete(fiber_local_key k) noexcept;
// The calling fiber's value for k, or null when it has none yet. Throws
// std::logic_error outside a fiber.
void* fiber_local_find(fiber_local_key k);
// Stores value (owned from now on; destroy frees it) as the calling
// fiber's value for k and returns it; if the fiber got a value for k
// meanwhile (T's constructor called get()), returns that one instead and
// leaves value to the caller.
void* fiber_local_store(fiber_local_key k, void* value, void (*destroy)(void*) noexcept);

}  // namespace detail

template <class T>
class fiber_local {
  static_assert(std::is_default_constructible_v<T>, "goro::fiber_local<T>: T must be default constructible");
  static_assert(std::is_destructible_v<T>, "goro::fiber_local<T>: T must be destructible");

 public:
  fiber_local() : key_(detail::fiber_local_new()) {}
  ~fiber_local() { detail::fiber_local_delete(key_); }
  fiber_local(const fiber_local&) = delete;
  fiber_local& operator=(const fiber_local&) = delete;

  // The calling fiber's value (see the contract above).
  T& get() {
    if (void* v = detail::fiber_local_find(key_)) return *static_cast<T*>(v);
    return make();
  }
  T& operator*() { return get(); }
  T* operator->() { return &get(); }

 private:
  [[gnu::noinline]] T& make() {
    // T() may itself switch fibers (and threads): the store re-finds the
    // calling fiber.
    std::unique_ptr<T> fresh(new T());
    void* stored = detail::fiber_local_store(key_, fresh.get(), &destroy);
    if (stored == fresh.get()) fresh.release();
    return *static_cast<T*>(stored);
  }
  static void destroy(void* p) noexcept { delete static_cast<T*>(p); }

  detail::fiber_local_key key_;
};

}  // namespace goro
