// goro::pool: a pool of worker fibers that run submitted tasks (Go's
// panjf2000/ants), and goro::pool_with_func<Arg>, one function over many
// arguments.
//
//   goro::pool p({.capacity = 100, .expiry = std::chrono::seconds(1)});
//   for (auto& job : jobs) p.submit([&job] { handle(job); });  // blocks while 100 run
//   goro::future<int> f = p.submit_future([] { return 42; });
//   p.wait();     // every submitted task has finished
//   p.release();  // idle workers leave; busy ones leave after their task
//
// Semantics:
//  - Workers are fibers, started lazily, at most capacity() of them taking
//    tasks at once. A task goes straight to an idle worker (the one idle the
//    shortest time), else to a new worker while running() < capacity();
//    else, with options::queue_size = q > 0, into a queue of at most q
//    tasks that workers take in order as they finish (the bounded worker
//    pool of a buffered channel); else the pool is full and the submitter
//    waits, first come first served, until a worker finishes its task and
//    takes the oldest waiting task (into the queue, when there is one). The
//    default q = 0 is ants' direct hand-off: no task is accepted that no
//    worker can start at once. A queue trades that for throughput: a
//    submitter does not wait for a worker per task. Invariants: the queue
//    is not empty only while every worker is busy, and submitters wait only
//    while it is full.
//  - submit(fn) waits while the pool is full; try_submit(fn) returns false
//    instead; submit(ctx, fn) gives up when ctx is done (also when it is done
//    before the call), throwing goro::context_done_error, and the task is
//    not run. With options::nonblocking, submit throws pool_overload_error
//    instead of waiting. With options::max_blocking_submitters = n > 0, a
//    submit that would be the (n+1)-th waiting one throws
//    pool_overload_error at once.
//  - A submit that would wait, called by a worker of the same pool (a task
//    submitting more work to its own full pool), runs the task inline, on
//    the calling worker, before returning (the caller-runs policy): waiting
//    there could deadlock once every worker does it (ants issue #197). The
//    nested task is counted as submitted and completed like any other. With
//    options::nonblocking it throws pool_overload_error instead, as any
//    submit does. Only the calling pool is checked: two full pools whose
//    tasks submit to each other can still deadlock.
//  - Exceptions: a task given to submit / try_submit that throws is reported
//    to options::panic_handler (with std::current_exception()), counted in
//    failed(), and the worker goes on. Without a handler the exception is
//    printed to stderr ("goro: pool task threw: what()") and the worker goes
//    on. A handler that throws ends the process, as an exception escaping
//    any fiber does. submit_future stores what the task throws in the
//    future instead (the handler is not called). goro::fiber_cancelled (the
//    runtime unwinding a task left blocked when main returned) always
//    propagates and ends the worker: it is never handed to the handler.
//  - Where: submit and its forms must be called from a fiber of the runtime
//    the pool's workers run in (they start workers with goro::go); from a
//    plain thread they throw std::logic_error. The counters, tune, release
//    and reboot may be called from anywhere. Constructing a pool needs no
//    runtime.
//  - tune(n) changes the capacity at any time: raised, it starts workers
//    for the waiting submitters at once; lowered, idle workers over it leave
//    at once, busy ones when their task ends (so until then running() may
//    exceed capacity(), but no new task starts while it does).
//  - Expiry: a worker idle for options::expiry leaves (checked by a
//    fiber every expiry period, so an idle worker leaves between one and two
//    periods after its last task). That fiber runs only while the pool has
//    workers. options::expiry <= 0: workers never expire.
//  - release() closes the pool: idle workers leave, waiting submitters and
//    later submits throw pool_closed_error, busy workers leave once their
//    task ends and the queue is empty (a queued task was accepted: it runs). It does not wait; release(timeout) also waits, up to
//    timeout, until every fiber of the pool has left, and says whether they
//    did. reboot() opens a released pool again (a no-op on an open one).
//    The destructor calls release(): it never waits, and workers still
//    running keep the pool's shared state alive until they leave. Destroy a
//    pool only when no call on it is in progress.
//  - wait() blocks until every task submitted so far has finished; from a
//    worker of the pool it throws std::logic_error (it would wait for
//    itself).
// Memory order: all the pool's state is under one goro::mutex; the counters
// are atomics written under it (relaxed) so that they can be read without
// it, as snapshots. A task is handed to a worker through a semaphore, whose
// release/acquire orders the hand-off.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

#include "goro/chan.hpp"
#include "goro/context.hpp"
#include "goro/errors.hpp"
#include "goro/fiber_local.hpp"
#include "goro/future.hpp"
#include "goro/go.hpp"
#include "goro/select.hpp"
#include "goro/sync.hpp"
#include "goro/this_fiber.hpp"
#include "goro/time.hpp"

namespace goro {

// Thrown by submit when the pool cannot take the task without waiting and
// waiting is not allowed: options::nonblocking, or already
// options::max_blocking_submitters submitters waiting.
class pool_overload_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown by submit on a released pool, and by a submit waiting when the
// pool is released.
class pool_closed_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A pool's settings.
struct pool_options {
  // Workers taking tasks at once; at least 1 (else std::invalid_argument).
  std::int64_t capacity = 1;
  // A worker idle this long leaves; <= 0: never.
  std::chrono::nanoseconds expiry{std::chrono::seconds{1}};
  // Tasks accepted while every worker is busy (see the header comment); 0:
  // none. Negative: std::invalid_argument.
  std::int64_t queue_size = 0;
  // Submitters that may wait at once for a full pool; 0: any number.
  // Negative: std::invalid_argument.
  std::int64_t max_blocking_submitters = 0;
  // submit never waits: it throws pool_overload_error when the pool is full.
  bool nonblocking = false;
  // Called on the worker with what a submit()ted task threw; empty: print
  // it to stderr. Must not throw.
  std::function<void(std::exception_ptr)> panic_handler{};
  // Stack size of each worker fiber; 0: the runtime's default.
  std::size_t stack_size = 0;
};

namespace detail {

// A move-only void() callable, kept inline when small (std::function needs
// copyable callables, and std::move_only_function is C++23).
class pool_task {
 public:
  pool_task() noexcept = default;
  template <class F, class D = std::decay_t<F>>
    requires(!std::is_same_v<D, pool_task> && std::is_invocable_v<D&>)
  explicit pool_task(F&& f) {
    if constexpr (fits<D>) {
      ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
      ops_ = &inline_ops<D>;
    } else {
      *reinterpret_cast<D**>(buf_) = new D(std::forward<F>(f));
      ops_ = &heap_ops<D>;
    }
  }
  pool_task(pool_task&& o) noexcept : ops_(o.ops_) {
    if (ops_) {
      ops_->move(buf_, o.buf_);
      o.ops_ = nullptr;
    }
  }
  pool_task& operator=(pool_task&& o) noexcept {
    if (this != &o) {
      reset();
      if (o.ops_) {
        o.ops_->move(buf_, o.buf_);
        ops_ = o.ops_;
        o.ops_ = nullptr;
      }
    }
    return *this;
  }
  pool_task(const pool_task&) = delete;
  pool_task& operator=(const pool_task&) = delete;
  ~pool_task() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  void operator()() { ops_->call(buf_); }
  void reset() noexcept {
    if (ops_) {
      ops_->destroy(buf_);
      ops_ = nullptr;
    }
  }

 private:
  static constexpr std::size_t size = 48;
  template <class D>
  static constexpr bool fits = sizeof(D) <= size && alignof(D) <= alignof(std::max_align_t) &&
                               std::is_nothrow_move_constructible_v<D>;
  struct ops {
    void (*call)(void*);
    void (*move)(void* dst, void* src) noexcept;  // move-constructs dst, destroys src
    void (*destroy)(void*) noexcept;
  };
  template <class D>
  static constexpr ops inline_ops{
      [](void* p) { (*static_cast<D*>(p))(); },
      [](void* dst, void* src) noexcept {
        ::new (dst) D(std::move(*static_cast<D*>(src)));
        static_cast<D*>(src)->~D();
      },
      [](void* p) noexcept { static_cast<D*>(p)->~D(); }};
  template <class D>
  static constexpr ops heap_ops{
      [](void* p) { (**static_cast<D**>(p))(); },
      [](void* dst, void* src) noexcept { *static_cast<D**>(dst) = *static_cast<D**>(src); },
      [](void* p) noexcept { delete *static_cast<D**>(p); }};

  alignas(std::max_align_t) unsigned char buf_[size];
  const ops* ops_ = nullptr;
};

// Which pool (its shared state) the calling fiber is a worker of; null for
// every other fiber. Never destroyed: it may be used until the process ends.
inline fiber_local<const void*>& pool_worker_tag() {
  static auto* tag = new fiber_local<const void*>();
  return *tag;
}

// Takes m while the calling fiber is being unwound (goro::fiber_cancelled in
// flight): lock() could park and be cancelled again, so poll. Nobody holds a
// pool's mutex across a wait, so this ends.
inline void lock_while_unwinding(goro::mutex& m) {
  while (!m.try_lock()) this_fiber::yield();
}

class pool_state : public std::enable_shared_from_this<pool_state> {
 public:
  explicit pool_state(pool_options o)
      : expiry_(o.expiry),
        queue_cap_(o.queue_size > 0 ? static_cast<std::size_t>(o.queue_size) : 0),
        max_waiting_(o.max_blocking_submitters),
        nonblocking_(o.nonblocking),
        handler_(std::move(o.panic_handler)),
        stack_size_(o.stack_size) {
    if (o.capacity < 1) throw std::invalid_argument("goro::pool: capacity must be at least 1");
    if (o.queue_size < 0) throw std::invalid_argument("goro::pool: queue_size must not be negative");
    if (o.max_blocking_submitters < 0)
      throw std::invalid_argument("goro::pool: max_blocking_submitters must not be negative");
    capacity_.store(o.capacity, std::memory_order_relaxed);  // not shared yet
  }
  pool_state(const pool_state&) = delete;
  pool_state& operator=(const pool_state&) = delete;

  enum class how { wait, try_only };

  // Runs, hands over or queues t. False only for how::try_only on a full pool.
  bool submit(pool_task& t, how h, const context* ctx) {
    if (ctx) throw_if_done(*ctx);
    if (this_fiber::id() == 0)
      throw std::logic_error("goro::pool: submit must be called from a fiber of the pool's runtime");
    std::unique_lock<goro::mutex> lk(mu_);
    if (released_) throw pool_closed_error("goro::pool: submit on a released pool");
    if (!idle_.empty()) {
      worker* w = idle_.back();
      idle_.pop_back();
      add(idle_n_, -1);
      add(pending_, 1);
      w->slot = std::move(t);
      // Under mu_: the worker cannot have left (it leaves only once off
      // idle_ and woken). The semaphore publishes slot to the worker.
      w->wake.release();
      return true;
    }
    if (running_.load(std::memory_order_relaxed) < capacity_.load(std::memory_order_relaxed)) {
      add(pending_, 1);
      spawn_locked(lk, std::move(t));
      return true;
    }
    if (queue_.size() < queue_cap_) {
      queue_.push_back(std::move(t));
      add(queued_, 1);
      add(pending_, 1);
      return true;
    }
    // Full.
    if (h == how::try_only) return false;
    if (nonblocking_) throw pool_overload_error("goro::pool: the pool is full (nonblocking)");
    if (pool_worker_tag().get() == this) {
      // A worker of this pool submitting to it while full: caller runs.
      add(pending_, 1);
      lk.unlock();
      run_task(t);
      lk.lock();
      finish_locked();
      return true;
    }
    if (max_waiting_ > 0 && waiting_.load(std::memory_order_relaxed) >= max_waiting_)
      throw pool_overload_error("goro::pool: too many submitters waiting (max_blocking_submitters)");
    waiter rec;
    rec.task = std::move(t);
    if (ctx) rec.ch = chan<std::monostate>(1);
    waiters_.push_back(&rec);
    add(waiting_, 1);
    lk.unlock();
    try {
      if (ctx)
        goro::select(on_recv(rec.ch), on_recv(ctx->done()));
      else
        rec.sem.acquire();
    } catch (const fiber_cancelled&) {
      lock_while_unwinding(mu_);
      std::lock_guard<goro::mutex> g(mu_, std::adopt_lock);
      if (!rec.accepted && !rec.closed) drop_waiter_locked(&rec);
      throw;
    }
    lk.lock();
    if (rec.accepted) return true;  // also when ctx ended at the same time
    if (rec.closed) throw pool_closed_error("goro::pool: the pool was released while the submitter waited");
    drop_waiter_locked(&rec);  // ctx is done
    lk.unlock();
    throw_if_done(*ctx);
    throw std::logic_error("goro::pool: internal error: submitter woken for nothing");
  }

  void tune(std::int64_t n) {
    if (n < 1) throw std::invalid_argument("goro::pool::tune: capacity must be at least 1");
    std::unique_lock<goro::mutex> lk(mu_);
    capacity_.store(n, std::memory_order_relaxed);
    std::int64_t running = running_.load(std::memory_order_relaxed);
    if (running > n) {
      // Oldest idle first; busy ones over capacity leave after their task.
      std::size_t k = std::min<std::size_t>(idle_.size(), static_cast<std::size_t>(running - n));
      retire_oldest_locked(k);
    } else if (!released_) {
      // Workers for the queued tasks and the waiting submitters; each takes
      // one of those first.
      std::int64_t k = std::min<std::int64_t>(n - running, static_cast<std::int64_t>(queue_.size() + waiters_.size()));
      for (; k > 0; k--) spawn_locked(lk, pool_task());
    }
  }

  void release() {
    std::lock_guard<goro::mutex> lk(mu_);
    if (released_) return;
    released_ = true;
    retire_oldest_locked(idle_.size());
    for (waiter* r : waiters_) {
      r->closed = true;
      r->wake();  // under mu_: r lives until its submitter sees `closed` under mu_
    }
    waiters_.clear();
    waiting_.store(0, std::memory_order_relaxed);
    stop_purger_locked();
  }

  template <class Rep, class Period>
  bool wait_gone(const std::chrono::duration<Rep, Period>& d) {
    std::unique_lock<goro::mutex> lk(mu_);
    return gone_cv_.wait_for(lk, d, [&] { return fibers_ == 0; });
  }

  void reboot() {
    std::lock_guard<goro::mutex> lk(mu_);
    released_ = false;
  }

  void wait() {
    if (this_fiber::id() != 0 && pool_worker_tag().get() == this)
      throw std::logic_error("goro::pool::wait: called by a worker of the same pool (it would wait for itself)");
    std::unique_lock<goro::mutex> lk(mu_);
    idle_waiters_++;
    try {
      done_cv_.wait(lk, [&] { return pending_.load(std::memory_order_relaxed) == 0; });
    } catch (...) {
      idle_waiters_--;  // wait() re-locked before throwing
      throw;
    }
    idle_waiters_--;
  }
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& d) {
    if (this_fiber::id() != 0 && pool_worker_tag().get() == this)
      throw std::logic_error("goro::pool::wait_for: called by a worker of the same pool (it would wait for itself)");
    std::unique_lock<goro::mutex> lk(mu_);
    idle_waiters_++;
    bool ok = done_cv_.wait_for(lk, d, [&] { return pending_.load(std::memory_order_relaxed) == 0; });
    idle_waiters_--;
    return ok;
  }

  bool released() {
    std::lock_guard<goro::mutex> lk(mu_);
    return released_;
  }

  // relaxed: snapshots (see the header comment).
  std::int64_t capacity() const noexcept { return capacity_.load(std::memory_order_relaxed); }
  std::int64_t running() const noexcept { return running_.load(std::memory_order_relaxed); }
  std::int64_t idle() const noexcept { return idle_n_.load(std::memory_order_relaxed); }
  std::int64_t waiting() const noexcept { return waiting_.load(std::memory_order_relaxed); }
  std::int64_t completed() const noexcept { return completed_.load(std::memory_order_relaxed); }
  std::int64_t failed() const noexcept { return failed_.load(std::memory_order_relaxed); }
  std::int64_t pending() const noexcept { return pending_.load(std::memory_order_relaxed); }
  std::int64_t queued() const noexcept { return queued_.load(std::memory_order_relaxed); }

 private:
  // A worker, on its own fiber's stack. In idle_ while it waits for a task.
  struct worker {
    pool_task slot;                    // written by the waker under mu_, read after wake
    bool stop = false;                 // likewise: leave instead of taking slot
    std::uint64_t idle_since = 0;      // under mu_: the purger's tick count when it went idle
    goro::semaphore wake;
  };
  // A submitter waiting for a full pool, on its own stack; in waiters_
  // until a worker takes its task (accepted), the pool is released
  // (closed), or it gives up itself. Both flags under mu_.
  struct waiter {
    pool_task task;
    bool accepted = false;
    bool closed = false;
    goro::semaphore sem;       // the wake-up without a context
    chan<std::monostate> ch{nullptr};  // the wake-up with a context (select); nil without
    void wake() {
      if (ch)
        ch.try_send(std::monostate{});  // capacity 1, sent once: never full
      else
        sem.release();
    }
  };

  // Writers hold mu_; relaxed (see the header comment).
  static void add(std::atomic<std::int64_t>& a, std::int64_t d) noexcept {
    a.store(a.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
  }

  void drop_waiter_locked(waiter* r) noexcept {
    for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
      if (*it == r) {
        waiters_.erase(it);
        add(waiting_, -1);
        return;
      }
    }
  }

  // Starts a worker (first task t, may be empty). mu_ is held on entry and
  // on return, released around go(): the new fiber may run at once.
  void spawn_locked(std::unique_lock<goro::mutex>& lk, pool_task t) {
    add(running_, 1);
    fibers_++;
    bool with_purger = false;
    std::uint64_t gen = 0;
    chan<std::monostate> stop;
    if (!purger_on_ && expiry_.count() > 0) {
      purger_on_ = with_purger = true;
      gen = ++purger_gen_;
      stop = purger_stop_ = chan<std::monostate>(0);
      fibers_++;
    }
    const bool had_task = static_cast<bool>(t);
    lk.unlock();
    std::shared_ptr<pool_state> self = shared_from_this();
    try {
      go(spawn_options{.stack_size = stack_size_}, &pool_state::worker_main, self, std::move(t));
    } catch (...) {
      lk.lock();
      add(running_, -1);
      if (had_task) add(pending_, -1);
      fibers_--;
      if (with_purger) {
        purger_on_ = false;
        purger_gen_++;
        fibers_--;
      }
      notify_locked();
      throw;
    }
    if (with_purger) {
      try {
        go(&pool_state::purger_main, self, gen, stop);
      } catch (...) {
        // Without its purger the pool works; its idle workers just do not
        // expire until a later spawn starts one.
        lk.lock();
        if (purger_gen_ == gen) purger_on_ = false;
        fibers_--;
        notify_locked();
        return;
      }
    }
    lk.lock();
  }

  // Wakes wait() and release(timeout) callers whose condition may now hold.
  void notify_locked() noexcept {
    if (idle_waiters_ > 0 && pending_.load(std::memory_order_relaxed) == 0) done_cv_.notify_all();
    if (fibers_ == 0) gone_cv_.notify_all();
  }

  void finish_locked() noexcept {
    add(completed_, 1);
    add(pending_, -1);
    notify_locked();
  }

  void retire_oldest_locked(std::size_t k) noexcept {
    for (std::size_t i = 0; i < k; i++) {
      worker* w = idle_[i];
      w->stop = true;
      w->wake.release();  // w may be gone once this returns
    }
    idle_.erase(idle_.begin(), idle_.begin() + static_cast<std::ptrdiff_t>(k));
    add(idle_n_, -static_cast<std::int64_t>(k));
    add(running_, -static_cast<std::int64_t>(k));
  }

  void stop_purger_locked() {
    if (!purger_on_) return;
    purger_on_ = false;
    purger_gen_++;
    purger_stop_.close();
    purger_stop_ = chan<std::monostate>(nullptr);
  }

  // Runs t; what it throws (but fiber_cancelled) goes to the handler.
  void run_task(pool_task& t) {
    try {
      t();
    } catch (const fiber_cancelled&) {
      throw;
    } catch (...) {
      failed_.fetch_add(1, std::memory_order_relaxed);  // a counter only
      report(std::current_exception());
    }
    t.reset();
  }

  void report(std::exception_ptr e) {
    if (handler_) {
      handler_(std::move(e));
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::fprintf(stderr, "goro: pool task threw: %s\n", x.what());
    } catch (...) {
      std::fprintf(stderr, "goro: pool task threw an exception not derived from std::exception\n");
    }
  }

  static void worker_main(std::shared_ptr<pool_state> st, pool_task t) { st->work(std::move(t)); }

  void work(pool_task t) {
    pool_worker_tag().get() = this;
    worker w;
    bool ran = false;
    for (;;) {
      if (t) {
        run_task(t);  // fiber_cancelled: leave at once, see below
        ran = true;
      }
      std::unique_lock<goro::mutex> lk(mu_);
      if (ran) finish_locked();
      ran = false;
      if ((released_ && queue_.empty()) ||
          running_.load(std::memory_order_relaxed) > capacity_.load(std::memory_order_relaxed)) {
        add(running_, -1);
        break;
      }
      if (!queue_.empty()) {
        t = std::move(queue_.front());
        queue_.pop_front();
        add(queued_, -1);
        // The queue was full if anyone waits: the oldest waiter's task
        // takes the freed place.
        if (!waiters_.empty()) {
          queue_.push_back(accept_oldest_waiter_locked());
          add(queued_, 1);
        }
        continue;
      }
      if (!waiters_.empty()) {
        t = accept_oldest_waiter_locked();
        continue;
      }
      w.idle_since = purge_ticks_;
      idle_.push_back(&w);
      add(idle_n_, 1);
      lk.unlock();
      try {
        w.wake.acquire();
      } catch (const fiber_cancelled&) {
        // The runtime is unwinding this idle worker (the pool was never
        // released): leave idle_ so that nobody hands w a task.
        lock_while_unwinding(mu_);
        std::lock_guard<goro::mutex> g(mu_, std::adopt_lock);
        for (auto it = idle_.begin(); it != idle_.end(); ++it) {
          if (*it == &w) {
            idle_.erase(it);
            add(idle_n_, -1);
            add(running_, -1);
            break;
          }
        }
        fibers_--;
        throw;
      }
      // The waker removed w from idle_ (and counted it) under mu_.
      if (w.stop) break;
      t = std::move(w.slot);
    }
    std::lock_guard<goro::mutex> lk(mu_);
    fibers_--;
    notify_locked();
  }

  // Takes the oldest waiting submitter's task (now counted as pending) and
  // wakes the submitter: its submit returns.
  pool_task accept_oldest_waiter_locked() {
    waiter* r = waiters_.front();
    waiters_.erase(waiters_.begin());
    add(waiting_, -1);
    pool_task t = std::move(r->task);
    r->accepted = true;
    add(pending_, 1);
    r->wake();  // under mu_: r lives until its submitter sees `accepted`
    return t;
  }

  static void purger_main(std::shared_ptr<pool_state> st, std::uint64_t gen, chan<std::monostate> stop) {
    st->purge(gen, std::move(stop));
  }

  void purge(std::uint64_t gen, chan<std::monostate> stop) {
    ticker tick(expiry_);
    for (;;) {
      bool stopped = false;
      goro::select(on_recv(tick.channel()), on_recv(stop, [&] { stopped = true; }));
      std::lock_guard<goro::mutex> lk(mu_);
      if (stopped || purger_gen_ != gen) break;
      // Idle since before the previous tick: idle for at least one period
      // (and less than two). Ticks, not clock reads, so that going idle
      // costs no clock read.
      purge_ticks_++;
      std::size_t k = 0;
      while (k < idle_.size() && purge_ticks_ - idle_[k]->idle_since >= 2) k++;  // idle_ is oldest first
      retire_oldest_locked(k);
      if (running_.load(std::memory_order_relaxed) == 0) {
        // Nothing left to expire: stop until the next worker starts.
        purger_on_ = false;
        purger_gen_++;
        purger_stop_ = chan<std::monostate>(nullptr);
        break;
      }
    }
    std::lock_guard<goro::mutex> lk(mu_);
    fibers_--;
    notify_locked();
  }

  const std::chrono::nanoseconds expiry_;
  const std::size_t queue_cap_;
  const std::int64_t max_waiting_;
  const bool nonblocking_;
  const std::function<void(std::exception_ptr)> handler_;
  const std::size_t stack_size_;

  goro::mutex mu_;
  // Under mu_:
  bool released_ = false;
  std::vector<worker*> idle_;     // oldest idle first; the newest is reused first
  std::vector<waiter*> waiters_;  // oldest first
  std::deque<pool_task> queue_;   // oldest first; at most queue_cap_
  std::int64_t fibers_ = 0;       // worker and purger fibers not yet ended
  std::int64_t idle_waiters_ = 0; // callers in wait() / wait_for()
  bool purger_on_ = false;
  std::uint64_t purger_gen_ = 0;
  std::uint64_t purge_ticks_ = 0;  // expiry periods the purgers have seen
  chan<std::monostate> purger_stop_{nullptr};
  goro::condition_variable done_cv_;  // pending_ reached 0
  goro::condition_variable gone_cv_;  // fibers_ reached 0
  // Written under mu_ (failed_ excepted), read anywhere.
  std::atomic<std::int64_t> capacity_{0}, running_{0}, idle_n_{0}, waiting_{0}, completed_{0}, failed_{0},
      pending_{0}, queued_{0};
};

}  // namespace detail

// A pool of worker fibers (see the top of this header).
class pool {
 public:
  explicit pool(pool_options o) : st_(std::make_shared<detail::pool_state>(std::move(o))) {}
  explicit pool(std::int64_t capacity) : pool(pool_options{.capacity = capacity}) {}
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;
  ~pool() { st_->release(); }

  // Runs fn() on a worker; waits while the pool is full. Throws
  // pool_closed_error, pool_overload_error (nonblocking, or too many
  // waiting), std::logic_error outside a fiber.
  template <class F>
  void submit(F&& fn) {
    detail::pool_task t(std::forward<F>(fn));
    st_->submit(t, detail::pool_state::how::wait, nullptr);
  }
  // submit, giving up when ctx is done: throws context_done_error.
  template <class F>
  void submit(const context& ctx, F&& fn) {
    detail::pool_task t(std::forward<F>(fn));
    st_->submit(t, detail::pool_state::how::wait, &ctx);
  }
  // Never waits: false when the pool is full (fn is then dropped).
  template <class F>
  bool try_submit(F&& fn) {
    detail::pool_task t(std::forward<F>(fn));
    return st_->submit(t, detail::pool_state::how::try_only, nullptr);
  }
  // submit, returning a future for fn's result or exception.
  template <class F>
  auto submit_future(F&& fn) -> future<std::invoke_result_t<std::decay_t<F>>> {
    return submit_future_impl(std::forward<F>(fn), nullptr);
  }
  template <class F>
  auto submit_future(const context& ctx, F&& fn) -> future<std::invoke_result_t<std::decay_t<F>>> {
    return submit_future_impl(std::forward<F>(fn), &ctx);
  }

  // Sets the capacity (at least 1, else std::invalid_argument).
  void tune(std::int64_t capacity) { st_->tune(capacity); }
  // Closes the pool; does not wait.
  void release() { st_->release(); }
  // release(), then waits up to d for every fiber of the pool to end; true
  // if they did.
  template <class Rep, class Period>
  bool release(const std::chrono::duration<Rep, Period>& d) {
    st_->release();
    return st_->wait_gone(d);
  }
  // Opens a released pool again.
  void reboot() { st_->reboot(); }
  bool released() const { return st_->released(); }
  // Until every submitted task has finished.
  void wait() { st_->wait(); }
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& d) {
    return st_->wait_for(d);
  }

  // Snapshots.
  std::int64_t capacity() const noexcept { return st_->capacity(); }
  std::int64_t running() const noexcept { return st_->running(); }  // workers, busy or idle
  std::int64_t idle() const noexcept { return st_->idle(); }
  std::int64_t busy() const noexcept { return st_->running() - st_->idle(); }
  std::int64_t waiting() const noexcept { return st_->waiting(); }  // blocked submitters
  std::int64_t completed() const noexcept { return st_->completed(); }
  std::int64_t failed() const noexcept { return st_->failed(); }
  std::int64_t pending() const noexcept { return st_->pending(); }  // submitted, not finished
  std::int64_t queued() const noexcept { return st_->queued(); }    // accepted, no worker yet

 private:
  template <class F>
  auto submit_future_impl(F&& fn, const context* ctx) -> future<std::invoke_result_t<std::decay_t<F>>> {
    using R = std::invoke_result_t<std::decay_t<F>>;
    promise<R> p;
    future<R> f = p.get_future();
    detail::pool_task t([p = std::move(p), fn = std::decay_t<F>(std::forward<F>(fn))]() mutable {
      detail::fulfil(p, fn);
    });
    st_->submit(t, detail::pool_state::how::wait, ctx);
    return f;
  }

  std::shared_ptr<detail::pool_state> st_;
};

// One function over many arguments (ants' PoolWithFunc): invoke(arg) runs
// fn(arg) on a worker, with pool's rules for waiting, errors and release.
template <class Arg>
class pool_with_func : private pool {
 public:
  template <class F>
  pool_with_func(pool_options o, F&& fn)
      : pool(std::move(o)), fn_(std::make_shared<const std::function<void(Arg)>>(std::forward<F>(fn))) {}

  void invoke(Arg arg) { submit(call{fn_, std::move(arg)}); }
  void invoke(const context& ctx, Arg arg) { submit(ctx, call{fn_, std::move(arg)}); }
  bool try_invoke(Arg arg) { return try_submit(call{fn_, std::move(arg)}); }

  using pool::busy;
  using pool::capacity;
  using pool::completed;
  using pool::failed;
  using pool::idle;
  using pool::pending;
  using pool::queued;
  using pool::reboot;
  using pool::release;
  using pool::released;
  using pool::running;
  using pool::tune;
  using pool::wait;
  using pool::wait_for;
  using pool::waiting;

 private:
  struct call {
    std::shared_ptr<const std::function<void(Arg)>> fn;
    Arg arg;
    void operator()() { (*fn)(std::move(arg)); }
  };
  std::shared_ptr<const std::function<void(Arg)>> fn_;
};

}  // namespace goro
