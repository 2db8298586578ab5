// Fiber synchronisation (Go's sync package): mutex, shared_mutex,
// condition_variable, once_flag/call_once, semaphore, wait_group.
//
// Every primitive parks a waiting fiber (its thread goes on running other
// fibers) and may also be used from threads outside the runtime, or inside
// goro::blocking, where waiting blocks the thread. The untimed waits (lock,
// lock_shared, condition_variable::wait, semaphore::acquire,
// wait_group::wait) throw goro::fiber_cancelled when the runtime unwinds a
// fiber left blocked after main returned (goro/errors.hpp); the primitive
// is left as if that waiter had never come. mutex and shared_mutex
// meet Lockable / SharedLockable, so std::lock_guard, std::unique_lock,
// std::scoped_lock and std::shared_lock work with them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <type_traits>
#include <utility>

#include "goro/detail/clock.hpp"
#include "goro/detail/spinlock.hpp"
#include "goro/detail/thread_role.hpp"
#include "goro/detail/wait.hpp"
#include "goro/errors.hpp"

namespace goro {

namespace detail {

// A counting semaphore with a FIFO of blocked parties (Go's runtime
// semaphore behind sync.Mutex). release() hands its token straight to the
// oldest waiter when there is one.
class sema {
 public:
  sema() = default;
  explicit sema(std::uint64_t tokens) noexcept : tokens_(tokens) {}
  sema(const sema&) = delete;
  sema& operator=(const sema&) = delete;
  ~sema();

  // Take a token, blocking while there is none. `lifo`: queue at the front
  // (a waiter that already waited once goes first). Throws
  // goro::fiber_cancelled when the runtime unwinds the waiting fiber; then
  // `withdraw(arg)`, if given, has run under the sema's lock, after the
  // waiter left the queue and before any fiber ran again, to undo what the
  // caller's state counted for this waiter (no fiber runs meanwhile).
  void acquire(wait_reason why, bool lifo = false, void (*withdraw)(void*) noexcept = nullptr,
               void* withdraw_arg = nullptr);
  bool try_acquire() noexcept;
  // acquire, giving up at `deadline` (now_ns clock). True if it got a token.
  bool acquire_until(wait_reason why, std::int64_t deadline);
  // Give n tokens: one to each of the oldest waiters, the rest to the pool.
  void release(std::uint64_t n = 1) noexcept;

 private:
  struct blocked;
  static bool cancel_blocked(void* arg) noexcept;  // parker::cancel

  spinlock lock_;
  std::uint64_t tokens_ = 0;  // under lock_
  wait_list waiters_;         // under lock_
};

// condition_variable::wait's re-lock after a cancelled wait was itself
// cancelled: the lock's holder never releases it. Fatal.
[[noreturn]] void relock_cancelled() noexcept;

}  // namespace detail

// A fiber mutex (Go's sync.Mutex). Uncontended lock and unlock are one
// atomic operation each. Contended, a waiter spins briefly, then parks.
// Normal mode lets a running fiber barge ahead of woken waiters (fast);
// a waiter that has waited more than 1 ms switches the mutex to starvation
// mode, where unlock hands it directly to the oldest waiter (FIFO) until
// the queue drains or a waiter got it quickly.
//
// Not recursive. May be unlocked by a fiber other than the one that locked
// it (as in Go). Unlocking an unlocked mutex prints
// "goro: fatal: goro::mutex::unlock: unlock of unlocked mutex" and aborts
// (the state is corrupt by then, as in Go).
//
// Lifetime: destroy a mutex only once no fiber is inside lock() or unlock()
// on it. Unlike std::mutex, a contended unlock() may still touch the mutex
// after another fiber has acquired it (Go's design, where the garbage
// collector keeps the mutex alive); so "the last user frees the object that
// holds the mutex" needs that user to be the last to unlock, or another
// synchronisation (a wait_group, a channel) to end the object's life.
class mutex {
 public:
  mutex() = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  void lock() {
    detail::note_thread_use();
    std::uint32_t unlocked = 0;
    // acquire: the critical section sees the previous owner's writes.
    if (state_.compare_exchange_strong(unlocked, locked_bit, std::memory_order_acquire, std::memory_order_relaxed)) {
      note_holder();
      return;
    }
    lock_slow();
    note_holder();
  }

  bool try_lock() noexcept {
    detail::note_thread_use();
    std::uint32_t old = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (old & (locked_bit | starving_bit)) return false;
      if (state_.compare_exchange_weak(old, old | locked_bit, std::memory_order_acquire, std::memory_order_relaxed)) {
        note_holder();
        return true;
      }
    }
  }

  void unlock() {
    detail::note_thread_use();
    // release: publish the critical section to the next owner.
    const std::uint32_t s = state_.fetch_sub(locked_bit, std::memory_order_release) - locked_bit;
    if (s != 0) unlock_slow(s);
  }

  // Timed locking (TimedLockable). Go's mutex has no timed lock; these poll
  // try_lock with a backoff of 20 us doubling to 1 ms (sleeping, not
  // spinning), so they may take the lock up to that long after it is free.
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& t) {
    return try_lock() || try_lock_until_ns(detail::deadline_of(t));
  }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return try_lock_until(std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d));
  }

 private:
  // The fiber that locked it last (0: a thread, or never), for the dump's
  // wait-for edge; meaningful while it is locked. relaxed: a diagnostic,
  // written by the owner after it took the lock.
  std::atomic<std::uint64_t> holder_{0};
  void note_holder() noexcept { holder_.store(detail::current_fiber_id(), std::memory_order_relaxed); }
  friend class shared_mutex;
  static constexpr std::uint32_t locked_bit = 1;
  static constexpr std::uint32_t woken_bit = 2;     // a waiter is awake and competing: unlock wakes nobody
  static constexpr std::uint32_t starving_bit = 4;  // FIFO hand-off mode
  static constexpr std::uint32_t waiter_shift = 3;  // the rest: parked waiters
  void lock_slow();
  void unlock_slow(std::uint32_t s);
  // A parked waiter cancelled by the runtime (sema::acquire's withdraw).
  static void withdraw_waiter(void* self) noexcept;
  bool try_lock_until_ns(std::int64_t deadline);

  std::atomic<std::uint32_t> state_{0};
  detail::sema sema_;
};

// A reader/writer fiber mutex (Go's sync.RWMutex), writer-preferring: once
// a writer waits, new readers wait behind it, so writers cannot starve.
// Readers hold it together. Unlocking what is not held is a fatal error.
// Lifetime: as for mutex, destroy it only once no fiber is inside a lock or
// unlock call on it.
class shared_mutex {
 public:
  shared_mutex() = default;
  shared_mutex(const shared_mutex&) = delete;
  shared_mutex& operator=(const shared_mutex&) = delete;

  void lock();
  bool try_lock();
  void unlock();
  void lock_shared();
  bool try_lock_shared() noexcept;
  void unlock_shared();

 private:
  // Parked readers / a parked writer cancelled by the runtime
  // (sema::acquire's withdraw; shared_mutex.cpp).
  static void withdraw_reader(void* self) noexcept;
  static void withdraw_writer(void* self) noexcept;
  static constexpr std::int32_t max_readers = 1 << 30;
  mutex writer_;                          // writers queue here, one at a time
  detail::sema writer_sem_;               // the writer waits for departing readers
  detail::sema reader_sem_;               // readers wait for the writer
  std::atomic<std::int32_t> readers_{0};  // active readers; minus max_readers while a writer holds or waits
  std::atomic<std::int32_t> departing_{0};  // readers the waiting writer still waits for
};

// A condition variable for fibers, usable with any BasicLockable (like
// std::condition_variable_any): goro::mutex, std::unique_lock<goro::mutex>,
// ... notify_one wakes the oldest waiter; notify_all wakes every current
// waiter once. No spurious wake-ups, but use the predicate overload anyway:
// another fiber may change the state between the notify and the re-lock.
class condition_variable {
 public:
  condition_variable() = default;
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;
  ~condition_variable();

  void notify_one() noexcept;
  void notify_all() noexcept;

  // Throws goro::fiber_cancelled when the runtime unwinds the waiting
  // fiber (the main fiber returned; goro/errors.hpp), with `lock` held
  // again, as std requires of every exit from wait. If that re-lock is
  // itself cancelled (the lock's holder never releases it), the process
  // ends with a fatal error.
  template <class Lock>
  void wait(Lock& lock) {
    try {
      wait_impl([](void* l) { static_cast<Lock*>(l)->unlock(); }, &lock);
    } catch (const fiber_cancelled&) {
      try {
        lock.lock();
      } catch (const fiber_cancelled&) {
        detail::relock_cancelled();
      }
      throw;
    }
    lock.lock();
  }
  template <class Lock, class Pred>
  void wait(Lock& lock, Pred pred) {
    while (!pred()) wait(lock);
  }

  // Timed waits (std::condition_variable_any's). A notify racing with the
  // timeout has exactly one winner: either the wait reports no_timeout and
  // consumed that notification, or it reports timeout and the notification
  // went to another waiter (or nobody).
  template <class Lock, class Clock, class Duration>
  std::cv_status wait_until(Lock& lock, const std::chrono::time_point<Clock, Duration>& t) {
    const bool woken = wait_until_impl([](void* l) { static_cast<Lock*>(l)->unlock(); }, &lock, detail::deadline_of(t));
    lock.lock();
    return woken ? std::cv_status::no_timeout : std::cv_status::timeout;
  }
  template <class Lock, class Rep, class Period>
  std::cv_status wait_for(Lock& lock, const std::chrono::duration<Rep, Period>& d) {
    return wait_until(lock, std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d));
  }
  template <class Lock, class Clock, class Duration, class Pred>
  bool wait_until(Lock& lock, const std::chrono::time_point<Clock, Duration>& t, Pred pred) {
    while (!pred())
      if (wait_until(lock, t) == std::cv_status::timeout) return pred();
    return true;
  }
  template <class Lock, class Rep, class Period, class Pred>
  bool wait_for(Lock& lock, const std::chrono::duration<Rep, Period>& d, Pred pred) {
    return wait_until(lock, std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d),
                      std::move(pred));
  }

 private:
  // Queue the caller, release the user's lock, block.
  void wait_impl(void (*unlock)(void*), void* lock);
  struct blocked;
  static bool cancel_blocked(void* arg) noexcept;  // parker::cancel
  bool wait_until_impl(void (*unlock)(void*), void* lock, std::int64_t deadline);

  detail::spinlock lock_;
  detail::wait_list waiters_;  // FIFO, under lock_
};

// Go's sync.Once with std::call_once's rules: the first caller runs fn;
// concurrent callers wait until it has finished. If fn throws, the
// exception reaches its caller and the flag stays unset: a later (or a
// waiting) caller runs its own fn.
class once_flag {
 public:
  once_flag() = default;
  once_flag(const once_flag&) = delete;
  once_flag& operator=(const once_flag&) = delete;

 private:
  template <class F, class... A>
  friend void call_once(once_flag& flag, F&& fn, A&&... args);
  std::atomic<bool> done_{false};
  mutex m_;
};

template <class F, class... A>
void call_once(once_flag& flag, F&& fn, A&&... args) {
  // acquire: pairs with the release below; what fn wrote is visible.
  if (flag.done_.load(std::memory_order_acquire)) return;
  std::lock_guard<mutex> l(flag.m_);
  if (flag.done_.load(std::memory_order_relaxed)) return;  // under m_: ordered by it
  std::invoke(std::forward<F>(fn), std::forward<A>(args)...);
  flag.done_.store(true, std::memory_order_release);
}

// A counting semaphore: acquire takes a unit (parking while there is none),
// release returns units, waking the oldest waiters first.
class semaphore {
 public:
  explicit semaphore(std::uint64_t initial = 0) noexcept : s_(initial) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  void acquire() { s_.acquire(detail::wait_reason::semaphore); }
  bool try_acquire() noexcept { return s_.try_acquire(); }
  // Wait for a unit until `t` / for `d`. True if it got one.
  template <class Clock, class Duration>
  bool try_acquire_until(const std::chrono::time_point<Clock, Duration>& t) {
    return s_.acquire_until(detail::wait_reason::semaphore, detail::deadline_of(t));
  }
  template <class Rep, class Period>
  bool try_acquire_for(const std::chrono::duration<Rep, Period>& d) {
    return try_acquire_until(std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d));
  }
  void release(std::uint64_t n = 1) noexcept { s_.release(n); }

 private:
  detail::sema s_;
};

// Waits for a collection of fibers to finish: add(n) before starting work,
// done() when each piece ends, wait() blocks until the counter is zero.
//
// It is safe to destroy a wait_group as soon as wait() returns, even while
// the fiber whose done() released it is still inside done().
// A negative counter is a fatal error (the state is corrupt): it prints
// "goro: fatal: goro::wait_group::add: negative counter" and aborts.
// add/done/wait may be called from fibers and from threads outside the
// runtime (wait then blocks the thread).
class wait_group {
 public:
  wait_group() = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;
  ~wait_group();

  void add(std::int64_t delta);
  void done() { add(-1); }
  void wait();
  // wait, giving up at `t` / after `d`. True if the counter reached zero
  // (if that happened as the deadline passed, true as well).
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& t) {
    return wait_until_ns(detail::deadline_of(t));
  }
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& d) {
    return wait_until(std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d));
  }

  // The counter (a snapshot).
  std::int64_t count() const noexcept {
    return static_cast<std::int32_t>(state_.load(std::memory_order_relaxed) >> 32);
  }

 private:
  bool wait_until_ns(std::int64_t deadline);
  struct blocked;
  static bool cancel_blocked(void* arg) noexcept;  // parker::cancel
  // Register as a waiter (false: the counter is already zero); *gen gets
  // the generation registered in.
  bool register_waiter(std::uint64_t* gen) noexcept;
  static constexpr std::uint64_t waiter_mask = (1u << 24) - 1;
  static constexpr std::uint64_t gen_mask = 0xffu << 24;

  // High 32 bits: the counter; bits 24-31: generation; low 24 bits: fibers
  // registered in wait().
  // One word so that done() can tell, in the same atomic step that drops the
  // counter to zero, whether anyone waits (and otherwise never touch *this
  // again).
  std::atomic<std::uint64_t> state_{0};
  detail::spinlock lock_;
  detail::wait_list waiters_;    // parked waiters, under lock_
  std::uint32_t tokens_ = 0;     // wake-ups for registered waiters not yet parked, under lock_
};

}  // namespace goro
