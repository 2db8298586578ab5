// A bounded Chase-Lev work-stealing deque (Chase & Lev 2005, with the C11
// memory orders of Lê, Pop, Cohen & Zappa Nardelli 2013) holding the
// continuations of a P: fibers that handed their P to a fiber they just
// spawned (see sched/spawn.cpp, "work first").
//
//   * The owner pushes and pops at the bottom: LIFO, so the most recent
//     spawner resumes first and a fork-join tree runs depth first, with a
//     small set of live stacks.
//   * Thieves steal at the top: the oldest continuation, which in a
//     fork-join program holds the most remaining work.
//
// Slots are atomics accessed relaxed (a thief may read a slot the owner is
// about to overwrite; the CAS on top_ then fails and the value is dropped).
// The StoreLoad orderings use seq_cst operations rather than the paper's
// fences: the same code on x86 (the store becomes an xchg), and
// ThreadSanitizer, which does not model fences, understands it.
#pragma once

#include <atomic>
#include <cstdint>

namespace goro::rt {

template <class T, std::int64_t N = 256>
class work_deque {
  static_assert(N >= 2 && (N & (N - 1)) == 0, "capacity must be a power of two");

 public:
  static constexpr std::int64_t capacity = N;

  // Owner. False when full (the caller puts x elsewhere).
  bool push(T* x) {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    const std::int64_t t = top_.load(std::memory_order_acquire);  // thieves' CAS
    if (b - t >= N) return false;
    slots_[b & (N - 1)].store(x, std::memory_order_relaxed);
    // release: a thief that sees the new bottom_ sees the slot (and x).
    bottom_.store(b + 1, std::memory_order_release);
    return true;
  }

  // Owner. The most recently pushed item, or nullptr.
  T* pop() {
    // Cheap exact test for empty first (no xchg on the scheduler's hot
    // path): only we move bottom_ (relaxed: our own writes), and top_ only
    // grows, so a stale relaxed top_ can only make the deque look fuller.
    const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
    if (b < top_.load(std::memory_order_relaxed)) return nullptr;
    // seq_cst store and load: our bottom_ store must be ordered before our
    // top_ load, and a thief's top_ load before its bottom_ load (StoreLoad
    // on both sides), so that owner and thief cannot both take the last item.
    bottom_.store(b, std::memory_order_seq_cst);
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    if (t > b) {  // empty
      bottom_.store(b + 1, std::memory_order_relaxed);
      return nullptr;
    }
    T* x = slots_[b & (N - 1)].load(std::memory_order_relaxed);
    if (t == b) {
      // The last item: race the thieves for it through top_.
      if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed))
        x = nullptr;
      bottom_.store(b + 1, std::memory_order_relaxed);
    }
    return x;
  }

  // Thief, or the owner taking the oldest item (a fairness turn). The
  // oldest item, or nullptr (empty, or lost a race: the caller just moves
  // on, as with any other victim).
  T* steal() {
    std::int64_t t = top_.load(std::memory_order_seq_cst);     // see pop()
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);  // also pairs with push's release
    if (t >= b) return nullptr;
    T* x = slots_[t & (N - 1)].load(std::memory_order_relaxed);
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed))
      return nullptr;
    return x;
  }

  // Any thread; a racy hint (acquire so an observed item is visible).
  bool empty() const {
    return bottom_.load(std::memory_order_acquire) <= top_.load(std::memory_order_acquire);
  }
  // Any thread; a racy count for diagnostics (relaxed: nothing is read
  // through it).
  std::uint32_t size() const {
    const std::int64_t n = bottom_.load(std::memory_order_relaxed) - top_.load(std::memory_order_relaxed);
    return n > 0 ? static_cast<std::uint32_t>(n) : 0;
  }

 private:
  alignas(64) std::atomic<std::int64_t> top_{0};
  alignas(64) std::atomic<std::int64_t> bottom_{0};
  std::atomic<T*> slots_[N] = {};
};

}  // namespace goro::rt
