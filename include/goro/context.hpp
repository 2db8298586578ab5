// goro::context: Go's context package. Carries cancellation, a deadline and
// request-scoped values down a tree of calls and fibers.
//
//   auto [ctx, cancel] = goro::with_timeout(goro::background(), 100ms);
//   goro::go([ctx] {
//     goro::select(goro::on_recv(ctx.done(), [&] { /* give up: ctx.err() */ }),
//                  goro::on_recv(results, [&](auto r) { ... }));
//   });
//   cancel();  // releases the context's resources; idempotent
//
// Semantics (Go's):
//  - Cancelling a context cancels all its descendants, synchronously (when
//    cancel returns, every descendant's done() is closed and err() set).
//  - A cancelled child leaves its parent's list of children (no growth).
//  - A child of a cancelled parent starts cancelled; a deadline that has
//    passed (or is after the parent's) is handled at creation.
//  - err(): none until done, then canceled or deadline_exceeded (never
//    changes afterwards). cause(): the text given to cancel, else the err's.
//  - Values: typed keys (compared by identity); lookup walks to the root.
// Contexts are cheap shared handles; copy them freely, from any fiber or
// thread. with_deadline/with_timeout and after_func start a fiber, so call
// them inside a runtime. Call the cancel function when done with a context
// (it stops that fiber); a deadline context left uncancelled keeps its
// fiber, and so run(), until the deadline. Likewise an after_func whose
// context is never done and which is never stopped keeps its fiber waiting:
// run() then ends with the deadlock report naming it.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

#include "goro/chan.hpp"

namespace goro {

enum class context_error : unsigned char { none, canceled, deadline_exceeded };
const char* to_string(context_error e) noexcept;

// A key for context values of type T. Keys are compared by identity: make
// them static or long-lived objects.
template <class T>
class context_key {
 public:
  explicit context_key(const char* name = "") noexcept : name_(name) {}
  context_key(const context_key&) = delete;
  context_key& operator=(const context_key&) = delete;
  const char* name() const noexcept { return name_; }

 private:
  const char* name_;
};

namespace detail {
struct ctx_node;
}

class context;
class cancel_func;

// Thrown by the waits of goro's toolkit (future::get(ctx), errgroup,
// singleflight, pool, workflow) when the caller's context ends the wait.
// err() is canceled or deadline_exceeded; what() is the context's cause().
class context_done_error : public std::runtime_error {
 public:
  context_done_error(context_error e, const std::string& cause) : std::runtime_error(cause), err_(e) {}
  context_error err() const noexcept { return err_; }

 private:
  context_error err_;
};
class after_func_handle;

class context {
 public:
  // The background context: never cancelled, no deadline, no values.
  context() noexcept = default;

  // Closed when the context is cancelled or its deadline passes. A nil
  // channel (never ready) for contexts that cannot be cancelled.
  chan<std::monostate> done() const;
  context_error err() const noexcept;
  // Why it was cancelled: the cause given to cancel(cause), else
  // "context canceled" / "context deadline exceeded". Empty while not done.
  std::string cause() const;
  std::optional<std::chrono::steady_clock::time_point> deadline() const noexcept;

  // The value for `key` on this context or its nearest ancestor that has
  // one; nullptr if none.
  template <class T>
  const T* value(const context_key<T>& key) const noexcept {
    return static_cast<const T*>(lookup(&key));
  }

 private:
  friend struct detail::ctx_node;
  friend class cancel_func;
  template <class T>
  friend context with_value(const context&, const context_key<T>&, T);
  friend std::pair<context, cancel_func> with_cancel(const context&);
  friend std::pair<context, cancel_func> with_deadline(const context&, std::chrono::steady_clock::time_point);
  friend class after_func_handle;
  friend after_func_handle after_func(const context&, std::function<void()>);

  explicit context(std::shared_ptr<detail::ctx_node> n) noexcept : n_(std::move(n)) {}
  const void* lookup(const void* key) const noexcept;
  static context value_context(const context& parent, const void* key, std::shared_ptr<void> v);

  std::shared_ptr<detail::ctx_node> n_;  // null: background
};

inline context background() noexcept { return context(); }

// Throws context_done_error for ctx if it is done; returns otherwise.
void throw_if_done(const context& ctx);

// Cancels its context (and every descendant). Calling it again, or after
// the context was cancelled otherwise, does nothing.
class cancel_func {
 public:
  void operator()() const;
  void operator()(std::string cause) const;

 private:
  friend std::pair<context, cancel_func> with_cancel(const context&);
  friend std::pair<context, cancel_func> with_deadline(const context&, std::chrono::steady_clock::time_point);
  explicit cancel_func(std::shared_ptr<detail::ctx_node> n) noexcept : n_(std::move(n)) {}
  std::shared_ptr<detail::ctx_node> n_;
};

std::pair<context, cancel_func> with_cancel(const context& parent);
std::pair<context, cancel_func> with_deadline(const context& parent, std::chrono::steady_clock::time_point d);

template <class Rep, class Period>
std::pair<context, cancel_func> with_timeout(const context& parent, const std::chrono::duration<Rep, Period>& d) {
  return with_deadline(parent, std::chrono::steady_clock::now() +
                                   std::chrono::ceil<std::chrono::steady_clock::duration>(d));
}

template <class T>
context with_value(const context& parent, const context_key<T>& key, T value) {
  return context::value_context(parent, &key, std::make_shared<T>(std::move(value)));
}

// after_func(ctx, fn): run fn in its own fiber once ctx is done.
class after_func_handle {
 public:
  // Stop fn from running. True if this call stopped it; false if it has
  // already started (or was already stopped).
  bool stop();

 private:
  friend after_func_handle after_func(const context&, std::function<void()>);
  struct state;
  explicit after_func_handle(std::shared_ptr<state> s) noexcept : s_(std::move(s)) {}
  std::shared_ptr<state> s_;
};
after_func_handle after_func(const context& ctx, std::function<void()> fn);

}  // namespace goro
