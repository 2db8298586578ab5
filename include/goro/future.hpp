// goro::promise / goro::future / goro::shared_future / goro::async: a value
// (or an exception) produced once by one party and awaited by others, with
// std::promise's contract and goro's waiting.
//
//   goro::future<int> f = goro::async([] { return compute(); });
//   ...
//   goro::select(goro::on_ready(f, [&] { use(f.get()); }),
//                goro::on_recv(ctx.done(), [&] { /* gave up */ }));
//
// Semantics:
//  - Waiting (get, wait, wait_for, wait_until) parks a fiber, and blocks a
//    thread outside the runtime (or inside goro::blocking). A promise may be
//    set from fibers and from plain threads alike.
//  - future<T>::get() waits, then returns the value (moved out) or rethrows
//    the stored exception; the future is then no longer valid(). A
//    shared_future's get() returns a const reference (or rethrows) and may
//    be called any number of times, from any number of copies.
//  - Errors are std::future_error with std::future_errc, as in <future>:
//    broken_promise (stored in the state when a promise is destroyed, or
//    moved-from-assigned, before it set anything), promise_already_satisfied
//    (set twice), future_already_retrieved (get_future twice), no_state (any
//    use of a default-constructed or moved-from object, except valid()).
//  - on_ready(future, fn) is a select case: ready once the future is ready
//    (the value is not taken: call get() in or after the handler). The
//    future must outlive the select. ready() is the same channel, closed
//    when the state becomes ready.
//  - async(fn, args...) runs fn(args...) in a new fiber (like go(), in a
//    runtime) and returns a future for its result; an exception thrown by fn
//    is stored, not fatal. If the fiber is unwound with goro::fiber_cancelled
//    (left blocked when main returned), that propagates and the future gets
//    broken_promise.
//  - get(ctx) / wait(ctx) give up when the context is done first, throwing
//    goro::context_done_error; the future stays valid and may be waited
//    for again.
//  - then(fn) on a future<T> returns future<R>: a new fiber waits for this
//    one, then calls fn(future<T>) (the value or exception is fn's to take)
//    and stores what fn returns or throws. The original future is consumed.
// Memory order: the setter publishes the value with a release store of the
// state word, and readers acquire it; the wake-up itself goes through a
// wait_group, which orders too.
#pragma once

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "goro/chan.hpp"
#include "goro/context.hpp"
#include "goro/detail/spinlock.hpp"
#include "goro/errors.hpp"
#include "goro/go.hpp"
#include "goro/select.hpp"
#include "goro/sync.hpp"

namespace goro {

template <class T>
class future;
template <class T>
class shared_future;
template <class T>
class promise;

namespace detail {

// What a future<void> stores.
struct void_value {};
template <class T>
using stored_t = std::conditional_t<std::is_void_v<T>, void_value, T>;

template <class T>
class future_state {
 public:
  using value_type = stored_t<T>;

  future_state() { wg_.add(1); }
  future_state(const future_state&) = delete;
  future_state& operator=(const future_state&) = delete;

  bool is_ready() const noexcept {
    // acquire: pairs with the release in publish(); a reader that sees
    // `ready` sees the value or exception written before it.
    return state_.load(std::memory_order_acquire) == ready;
  }

  template <class... A>
  void set_value(A&&... a) {
    claim();
    try {
      value_.emplace(std::forward<A>(a)...);
    } catch (...) {
      error_ = std::current_exception();
    }
    publish();
  }
  void set_exception(std::exception_ptr e) {
    if (!e) throw std::invalid_argument("goro::promise::set_exception: null exception_ptr");
    claim();
    error_ = std::move(e);
    publish();
  }
  // Only by a promise that never set anything: its state is still empty,
  // and nobody else may set it (the promise is the only setter).
  void break_promise() noexcept {
    std::uint8_t expect = empty;
    // acq_rel as in claim().
    if (!state_.compare_exchange_strong(expect, setting, std::memory_order_acq_rel)) return;
    error_ = std::make_exception_ptr(std::future_error(std::future_errc::broken_promise));
    publish();
  }

  void wait() {
    if (!is_ready()) wg_.wait();
  }
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& t) {
    return is_ready() || wg_.wait_until(t);
  }
  // Waits until ready or until ctx is done; in the latter case throws
  // context_done_error (if both, ready wins).
  void wait(const context& ctx) {
    if (is_ready()) return;
    chan<std::monostate> done = ctx.done();
    if (!done) return wait();  // ctx can never be cancelled
    goro::select(on_recv(ready_channel()), on_recv(done));
    if (!is_ready()) throw_if_done(ctx);
  }

  // After wait(): the value, or the stored exception rethrown.
  value_type& value() {
    if (error_) std::rethrow_exception(error_);
    return *value_;
  }

  // Closed once the state is ready. Created on first use: the lock makes
  // exactly one of publish() and this function close it.
  chan<std::monostate> ready_channel() {
    bool close_now = false;
    chan<std::monostate> c{nullptr};
    {
      std::lock_guard<spinlock> l(lock_);
      if (!ready_ch_) {
        ready_ch_ = chan<std::monostate>(0);
        close_now = state_.load(std::memory_order_relaxed) == ready;  // under lock_: publish() stored it before locking
      }
      c = ready_ch_;
    }
    if (close_now) c.close();
    return c;
  }

 private:
  static constexpr std::uint8_t empty = 0, setting = 1, ready = 2;

  void claim() {
    std::uint8_t expect = empty;
    // acq_rel: the winner's writes to the value come after the claim; a
    // loser needs nothing from the winner, but acq_rel keeps it simple.
    if (!state_.compare_exchange_strong(expect, setting, std::memory_order_acq_rel))
      throw std::future_error(std::future_errc::promise_already_satisfied);
  }
  void publish() {
    chan<std::monostate> c{nullptr};
    {
      std::lock_guard<spinlock> l(lock_);
      // release: publishes value_ / error_ to is_ready()'s acquire.
      state_.store(ready, std::memory_order_release);
      c = ready_ch_;
    }
    if (c) c.close();
    wg_.done();
  }

  std::atomic<std::uint8_t> state_{empty};
  spinlock lock_;                 // orders publish() against ready_channel()
  chan<std::monostate> ready_ch_{nullptr};  // under lock_; nil until someone asks
  std::optional<value_type> value_;
  std::exception_ptr error_;
  wait_group wg_;  // count 1 until ready
};

[[noreturn]] inline void throw_no_state() { throw std::future_error(std::future_errc::no_state); }

template <class T>
decltype(auto) take_value(future_state<T>& s) {
  s.wait();
  if constexpr (std::is_void_v<T>) {
    s.value();
  } else {
    return T(std::move(s.value()));
  }
}

}  // namespace detail

// The setting side. Move-only; destroying it unset stores broken_promise.
template <class T>
class promise {
  static_assert(!std::is_reference_v<T>, "goro::promise<T&>: use promise<std::reference_wrapper<T>> or a pointer");

 public:
  promise() : s_(std::make_shared<detail::future_state<T>>()) {}
  promise(promise&& o) noexcept = default;
  promise& operator=(promise&& o) noexcept {
    if (this != &o) {
      abandon();
      s_ = std::move(o.s_);
      retrieved_ = o.retrieved_;
    }
    return *this;
  }
  promise(const promise&) = delete;
  promise& operator=(const promise&) = delete;
  ~promise() { abandon(); }

  future<T> get_future() {
    if (!s_) detail::throw_no_state();
    if (retrieved_) throw std::future_error(std::future_errc::future_already_retrieved);
    retrieved_ = true;
    return future<T>(s_);
  }

  template <class... A>
    requires(std::is_void_v<T> ? sizeof...(A) == 0 : std::is_constructible_v<detail::stored_t<T>, A && ...>)
  void set_value(A&&... a) {
    if (!s_) detail::throw_no_state();
    s_->set_value(std::forward<A>(a)...);
  }
  void set_exception(std::exception_ptr e) {
    if (!s_) detail::throw_no_state();
    s_->set_exception(std::move(e));
  }

 private:
  void abandon() noexcept {
    if (s_) s_->break_promise();
  }
  std::shared_ptr<detail::future_state<T>> s_;
  bool retrieved_ = false;
};

// The single-consumer receiving side. Move-only.
template <class T>
class future {
 public:
  future() noexcept = default;
  future(future&&) noexcept = default;
  future& operator=(future&&) noexcept = default;
  future(const future&) = delete;
  future& operator=(const future&) = delete;

  bool valid() const noexcept { return s_ != nullptr; }
  // True once the value or exception is there (does not wait).
  bool is_ready() const { return state().is_ready(); }

  // Waits, then returns the value or rethrows the exception; the future is
  // invalid afterwards (also when it throws).
  std::conditional_t<std::is_void_v<T>, void, T> get() {
    auto s = std::move(s_);
    if (!s) detail::throw_no_state();
    return detail::take_value<T>(*s);
  }
  // get(), but giving up when ctx is done first: throws context_done_error
  // and the future stays valid.
  std::conditional_t<std::is_void_v<T>, void, T> get(const context& ctx) {
    state().wait(ctx);
    return get();
  }
  void wait() const { state().wait(); }
  // Throws context_done_error if ctx is done before the future is ready.
  void wait(const context& ctx) const { state().wait(ctx); }
  template <class Clock, class Duration>
  std::future_status wait_until(const std::chrono::time_point<Clock, Duration>& t) const {
    return state().wait_until(t) ? std::future_status::ready : std::future_status::timeout;
  }
  template <class Rep, class Period>
  std::future_status wait_for(const std::chrono::duration<Rep, Period>& d) const {
    return wait_until(std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d));
  }

  // A channel closed when the future is ready (for select).
  chan<std::monostate> ready() const { return state().ready_channel(); }

  shared_future<T> share() noexcept { return shared_future<T>(std::move(s_)); }

  // fn(future<T>) in a new fiber once this future is ready; its result in
  // the returned future. Consumes *this.
  template <class F>
  auto then(F&& fn) -> future<std::invoke_result_t<std::decay_t<F>, future<T>>>;

 private:
  friend class promise<T>;
  explicit future(std::shared_ptr<detail::future_state<T>> s) noexcept : s_(std::move(s)) {}
  detail::future_state<T>& state() const {
    if (!s_) detail::throw_no_state();
    return *s_;
  }
  std::shared_ptr<detail::future_state<T>> s_;
};

// A copyable future: every copy sees the same value.
template <class T>
class shared_future {
 public:
  shared_future() noexcept = default;
  shared_future(future<T>&& f) noexcept : shared_future(f.share()) {}

  bool valid() const noexcept { return s_ != nullptr; }
  bool is_ready() const { return state().is_ready(); }

  // Waits, then returns a reference to the value (valid while a copy of
  // this shared_future lives) or rethrows the exception.
  std::conditional_t<std::is_void_v<T>, void, const detail::stored_t<T>&> get() const {
    auto& s = state();
    s.wait();
    if constexpr (std::is_void_v<T>) {
      s.value();
    } else {
      return s.value();
    }
  }
  std::conditional_t<std::is_void_v<T>, void, const detail::stored_t<T>&> get(const context& ctx) const {
    state().wait(ctx);
    return get();
  }
  void wait() const { state().wait(); }
  void wait(const context& ctx) const { state().wait(ctx); }
  template <class Clock, class Duration>
  std::future_status wait_until(const std::chrono::time_point<Clock, Duration>& t) const {
    return state().wait_until(t) ? std::future_status::ready : std::future_status::timeout;
  }
  template <class Rep, class Period>
  std::future_status wait_for(const std::chrono::duration<Rep, Period>& d) const {
    return wait_until(std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d));
  }
  chan<std::monostate> ready() const { return state().ready_channel(); }

 private:
  friend class future<T>;
  explicit shared_future(std::shared_ptr<detail::future_state<T>> s) noexcept : s_(std::move(s)) {}
  detail::future_state<T>& state() const {
    if (!s_) detail::throw_no_state();
    return *s_;
  }
  std::shared_ptr<detail::future_state<T>> s_;
};

namespace detail {

// Runs fn(args...) and stores its result or exception in p.
template <class R, class F, class... A>
void fulfil(promise<R>& p, F& fn, A&... args) {
  try {
    if constexpr (std::is_void_v<R>) {
      std::invoke(std::move(fn), std::move(args)...);
      p.set_value();
    } else {
      p.set_value(std::invoke(std::move(fn), std::move(args)...));
    }
  } catch (const fiber_cancelled&) {
    throw;  // p is destroyed on the way out: broken_promise
  } catch (...) {
    p.set_exception(std::current_exception());
  }
}

}  // namespace detail

// Runs fn(args...) in a new fiber; its result, or what it throws, in the
// returned future. Arguments are decay-copied, as by go(). In a runtime.
template <class F, class... Args>
auto async(F&& fn, Args&&... args) -> future<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>> {
  using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
  promise<R> p;
  future<R> result = p.get_future();
  detail::spawn(
      {}, std::source_location::current(),
      [](promise<R> pr, std::decay_t<F> f, std::decay_t<Args>... a) { detail::fulfil(pr, f, a...); },
      std::move(p), std::forward<F>(fn), std::forward<Args>(args)...);
  return result;
}

template <class T>
template <class F>
auto future<T>::then(F&& fn) -> future<std::invoke_result_t<std::decay_t<F>, future<T>>> {
  if (!s_) detail::throw_no_state();
  return async(
      [](future<T> self, std::decay_t<F> f) {
        self.wait();
        return std::invoke(std::move(f), std::move(self));
      },
      std::move(*this), std::forward<F>(fn));
}

// A select case ready when `f` is: goro::select(goro::on_ready(f, [&] { ... }), ...).
// The handler takes no arguments; the value stays in the future.
template <class T, class F = detail::no_handler>
auto on_ready(const future<T>& f, F&& fn = {}) {
  return on_recv(f.ready(), std::forward<F>(fn));
}
template <class T, class F = detail::no_handler>
auto on_ready(const shared_future<T>& f, F&& fn = {}) {
  return on_recv(f.ready(), std::forward<F>(fn));
}

}  // namespace goro
