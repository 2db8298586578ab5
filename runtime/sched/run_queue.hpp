// The local run queue of a P: Go's runq (proc.go runqput/runqget/runqgrab).
//
// A fixed ring of N slots plus a one-element `runnext` slot.
//
//   * Exactly one producer: the P's owner. Only it writes `tail_` and the
//     slots in [tail_, head_ + N).
//   * Many consumers: the owner (`get`) and thieves (`grab`/`steal`). Every
//     consumer claims items by CAS on `head_`, so each item is taken once.
//   * `runnext_` holds the G most recently readied by the running G. The owner
//     and thieves both take it by CAS/exchange.
//
// Slots are std::atomic<T*> accessed relaxed: a thief may read a slot that
// the owner is about to overwrite (after the thief's read the CAS on head_
// fails and the value is discarded), which would be a data race on a plain
// pointer. Ordering comes from head_/tail_ alone:
//
//   owner put:   slot store (relaxed) ; tail_.store(release)
//   consumer:    tail_.load(acquire)  ; slot load (relaxed) ; head_ CAS(release)
//   owner put:   head_.load(acquire)  — pairs with a consumer's CAS(release),
//                so the owner never reuses a slot before its reader is done.
//
// The class is a template over the element type and capacity so unit tests
// can drive it alone with tiny capacities (Tokio's loom trick).
#pragma once

#include <atomic>
#include <cstdint>

namespace goro::rt {

template <class T, std::uint32_t N = 256>
class run_queue {
  static_assert(N >= 2 && (N & (N - 1)) == 0, "capacity must be a power of two");

 public:
  static constexpr std::uint32_t capacity = N;

  // Result of `get`: the item and whether it came from runnext (a G taken
  // from runnext inherits the current time slice).
  struct taken {
    T* item = nullptr;
    bool from_next = false;
  };

  // Owner only. Put `g` on the queue. With `next`, `g` goes to runnext and the
  // previous runnext (if any) is kicked to the tail. When the ring is full,
  // half of it plus the new item is handed to `overflow(batch, n)` in FIFO
  // order (the caller moves them to the global queue).
  template <class Overflow>
  void put(T* g, bool next, Overflow&& overflow) {
    if (next) {
      // Thieves only ever change runnext from non-null to null, so when it
      // is null nobody else can write it: a plain release store (publishing
      // g's state to whoever takes it) is enough, and saves an atomic RMW
      // on the channel hand-off path.
      if (runnext_.load(std::memory_order_relaxed) == nullptr) {
        runnext_.store(g, std::memory_order_release);
        return;
      }
      // acq_rel: release publishes g; acquire pairs with the release of
      // whoever stored the old value (a thief may take it meanwhile).
      T* old = runnext_.exchange(g, std::memory_order_acq_rel);
      if (old == nullptr) return;
      g = old;
    }
    for (;;) {
      // acquire: pairs with consumers' CAS(release) on head_, so the slot we
      // are about to overwrite has been read by whoever consumed it.
      std::uint32_t h = head_.load(std::memory_order_acquire);
      std::uint32_t t = tail_.load(std::memory_order_relaxed);  // single writer: us
      if (t - h < N) {
        slots_[t % N].store(g, std::memory_order_relaxed);
        tail_.store(t + 1, std::memory_order_release);  // publishes the slot to consumers
        return;
      }
      if (put_slow(g, h, t, overflow)) return;
      // A consumer moved head_ concurrently; the ring has room again.
    }
  }

  // Owner only. Take the next item: runnext first, then the ring head.
  taken get() {
    if (T* next = take_next()) return {next, true};
    return {get_ring(), false};
  }

  // Owner only. Take runnext, or nullptr.
  T* take_next() {
    T* next = runnext_.load(std::memory_order_relaxed);
    // A thief may take runnext concurrently, so claim it by CAS. acquire pairs
    // with the release in put(next=true).
    while (next != nullptr) {
      if (runnext_.compare_exchange_weak(next, nullptr, std::memory_order_acquire,
                                         std::memory_order_relaxed))
        return next;
    }
    return nullptr;
  }

  // Owner only. Take the ring's head, or nullptr.
  T* get_ring() {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);  // other consumers' CAS
      std::uint32_t t = tail_.load(std::memory_order_relaxed);  // single writer: us
      if (t == h) return nullptr;
      T* g = slots_[h % N].load(std::memory_order_relaxed);
      // release: tells the owner's put() the slot is free (we own g now).
      if (head_.compare_exchange_weak(h, h + 1, std::memory_order_release,
                                      std::memory_order_relaxed))
        return g;
    }
  }

  // Owner only. How many items the ring holds (runnext not counted); thieves
  // may take some at any moment, so this is an upper bound by then.
  std::uint32_t ring_size() const {
    const std::uint32_t h = head_.load(std::memory_order_relaxed);  // a bound only: no data read
    const std::uint32_t t = tail_.load(std::memory_order_relaxed);  // single writer: us
    return t - h;
  }

  // Thief. Take half (rounded up) of this queue into `batch`, which must hold
  // N/2 items; with `one` (the steal_amount knob), only the oldest item.
  // When the ring is empty and `steal_next`, take runnext instead. Returns
  // the number of items taken.
  std::uint32_t grab(T** batch, bool steal_next, bool one) {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);  // other consumers
      std::uint32_t t = tail_.load(std::memory_order_acquire);  // the producer's slots
      std::uint32_t n = t - h;
      n = n - n / 2;
      if (n == 0) {
        if (!steal_next) return 0;
        T* next = runnext_.load(std::memory_order_relaxed);
        if (next == nullptr) return 0;
        if (!runnext_.compare_exchange_strong(next, nullptr, std::memory_order_acquire,
                                              std::memory_order_relaxed))
          continue;
        batch[0] = next;
        return 1;
      }
      if (n > N / 2) continue;  // h and t read at different times; retry
      if (one) n = 1;
      for (std::uint32_t i = 0; i < n; i++)
        batch[i] = slots_[(h + i) % N].load(std::memory_order_relaxed);
      // release: the owner may reuse these slots once it sees the new head_.
      if (head_.compare_exchange_strong(h, h + n, std::memory_order_release,
                                        std::memory_order_relaxed))
        return n;
    }
  }

  // Thief, called by the owner of *this* queue (which must be empty of
  // anything it cares about ordering with): steal half of `victim` (with
  // `one`, its oldest item) into this queue and return one stolen item to
  // run, or nullptr.
  T* steal_from(run_queue& victim, bool steal_next, bool one) {
    T* batch[N / 2];
    std::uint32_t n = victim.grab(batch, steal_next, one);
    if (n == 0) return nullptr;
    T* first = batch[--n];
    if (n == 0) return first;
    std::uint32_t t = tail_.load(std::memory_order_relaxed);  // single writer: us
    // The stolen items fit: at most N/2 of them, and the caller's ring had room
    // (steals only happen when the local queue is empty).
    for (std::uint32_t i = 0; i < n; i++) slots_[(t + i) % N].store(batch[i], std::memory_order_relaxed);
    tail_.store(t + n, std::memory_order_release);  // publishes the slots
    return first;
  }

  // Any thread. A racy emptiness check (used before stealing and by an idle
  // M's last look around); acquire so an observed item is fully visible.
  bool empty() const {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);
      std::uint32_t t = tail_.load(std::memory_order_acquire);
      T* next = runnext_.load(std::memory_order_acquire);
      if (tail_.load(std::memory_order_acquire) == t) return h == t && next == nullptr;
    }
  }

  // Any thread; approximate.
  std::uint32_t size() const {
    std::uint32_t h = head_.load(std::memory_order_relaxed);
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    std::uint32_t n = t - h;
    if (n > N) n = N;
    return n + (runnext_.load(std::memory_order_relaxed) != nullptr ? 1 : 0);
  }

 private:
  template <class Overflow>
  bool put_slow(T* g, std::uint32_t h, std::uint32_t t, Overflow& overflow) {
    T* batch[N / 2 + 1];
    std::uint32_t n = (t - h) / 2;
    for (std::uint32_t i = 0; i < n; i++) batch[i] = slots_[(h + i) % N].load(std::memory_order_relaxed);
    // release: frees the slots for our own later puts (pairs with our acquire
    // load of head_ in put()); fails if a thief took items meanwhile.
    if (!head_.compare_exchange_strong(h, h + n, std::memory_order_release, std::memory_order_relaxed))
      return false;
    batch[n] = g;
    overflow(batch, n + 1);
    return true;
  }

  alignas(64) std::atomic<std::uint32_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  std::atomic<T*> runnext_{nullptr};
  std::atomic<T*> slots_[N] = {};
};

}  // namespace goro::rt
