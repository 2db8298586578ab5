// goro::singleflight: Go's golang.org/x/sync/singleflight. Concurrent
// calls for the same key share one execution of the function.
//
//   goro::singleflight<std::string, page> flights;
//   auto [p, shared] = flights.do_call(ctx, url, [&](const goro::context& call_ctx) {
//     return load(call_ctx, url);
//   });
//
// Semantics:
//  - do_call(key, fn): if a call for key is in flight, waits for it and
//    returns its result; otherwise starts fn in a new fiber and waits for
//    that. The result's `shared` is true when more than one caller received
//    this call's result. An exception thrown by fn reaches every caller
//    (rethrown by do_call; the same exception object).
//  - fn takes nothing, or the call's own context: a child of background()
//    (no caller's values or deadline), cancelled once every caller has left
//    (below) and when the call ends. So one caller's cancellation never
//    cancels the call the others wait for (Go's singleflight runs fn with
//    the first caller's context).
//  - do_call(ctx, key, fn): this caller stops waiting when ctx is done and
//    gets goro::context_done_error; the call goes on for the others. When
//    the last waiter leaves, the call's context is cancelled and the key is
//    forgotten, so the next caller starts afresh.
//  - do_future(key, fn): the call's result as a shared_future; the future
//    counts as a waiter that never leaves. do_chan(key, fn): a channel that
//    receives exactly one flight_result (value or exception) even when fn
//    throws: a reader is never left hanging.
//  - forget(key): the next call for key starts a new execution; callers
//    already waiting keep waiting for theirs. A finished, forgotten call
//    never removes a newer call's entry (the entry is checked by identity).
//  - Must be used from fibers in a runtime (it starts fibers). Destroying
//    the singleflight while calls are in flight is allowed: they finish
//    and deliver their results; only the map goes.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "goro/chan.hpp"
#include "goro/context.hpp"
#include "goro/errors.hpp"
#include "goro/future.hpp"
#include "goro/go.hpp"
#include "goro/sync.hpp"

namespace goro {

namespace detail {

// Runs fn (with the call's context if it takes one), runs before_publish,
// then sets p from fn's result or exception. fiber_cancelled propagates
// (p is then broken: every waiter gets std::future_error).
template <class T, class F, class B>
void fulfil_flight(promise<T>& p, F& fn, const context& ctx, B&& before_publish) {
  std::optional<T> v;
  std::exception_ptr ex;
  try {
    if constexpr (std::is_invocable_v<F&, const context&>) {
      v.emplace(fn(ctx));
    } else {
      static_assert(std::is_invocable_v<F&>, "goro::singleflight: fn must take nothing or a const goro::context&");
      v.emplace(fn());
    }
  } catch (const fiber_cancelled&) {
    before_publish();
    throw;
  } catch (...) {
    ex = std::current_exception();
  }
  before_publish();
  if (ex) {
    p.set_exception(std::move(ex));
  } else {
    p.set_value(std::move(*v));
  }
}

}  // namespace detail

template <class T>
struct flight_result {
  std::optional<T> value;    // set unless fn threw
  std::exception_ptr error;  // what fn threw
  bool shared = false;
  // The value, or the exception rethrown.
  T& get() {
    if (error) std::rethrow_exception(error);
    return *value;
  }
};

template <class Key, class T, class Hash = std::hash<Key>, class Eq = std::equal_to<Key>>
class singleflight {
  static_assert(!std::is_void_v<T>, "goro::singleflight<Key, void>: use a small value type such as bool");

 public:
  struct result {
    T value;
    bool shared;
  };

  singleflight() : s_(std::make_shared<shared_state>()) {}
  singleflight(const singleflight&) = delete;
  singleflight& operator=(const singleflight&) = delete;

  template <class F>
  result do_call(const Key& key, F&& fn) {
    return do_call(background(), key, std::forward<F>(fn));
  }

  template <class F>
  result do_call(const context& ctx, const Key& key, F&& fn) {
    throw_if_done(ctx);
    std::shared_ptr<call> c = join(key, std::forward<F>(fn));
    try {
      c->result.wait(ctx);
    } catch (const context_done_error&) {
      leave(key, c);
      throw;
    }
    const T& v = c->result.get();  // rethrows fn's exception
    return {v, c->shared()};
  }

  template <class F>
  shared_future<T> do_future(const Key& key, F&& fn) {
    return join(key, std::forward<F>(fn))->result;
  }

  template <class F>
  chan<flight_result<T>> do_chan(const Key& key, F&& fn) {
    std::shared_ptr<call> c = join(key, std::forward<F>(fn));
    chan<flight_result<T>> out(1);
    // The buffer of one takes the one send, so the fiber never blocks on
    // a reader that went away.
    goro::go([c, out]() mutable {
      flight_result<T> r;
      try {
        r.value.emplace(c->result.get());
      } catch (...) {
        r.error = std::current_exception();
      }
      r.shared = c->shared();
      out.send(std::move(r));
    });
    return out;
  }

  // Callers now waiting for key's call in flight (0 if none): for tests
  // and metrics; it may change as soon as it returns.
  std::size_t waiting(const Key& key) {
    std::lock_guard<mutex> l(s_->mu);
    auto it = s_->calls.find(key);
    return it == s_->calls.end() ? 0 : it->second->waiters;
  }

  void forget(const Key& key) {
    std::lock_guard<mutex> l(s_->mu);
    s_->calls.erase(key);
  }

 private:
  struct call {
    shared_future<T> result;
    cancel_func cancel;
    std::size_t waiters = 0;  // callers still waiting, under shared_state::mu
    std::size_t callers = 0;  // every caller that joined, under shared_state::mu
    bool done = false;        // fn has returned, under shared_state::mu
    // Read after result is ready: the last join() happened before the
    // entry left the map, which happened before the result was set.
    bool shared() const noexcept { return callers > 1; }
  };
  struct shared_state {
    mutex mu;
    std::unordered_map<Key, std::shared_ptr<call>, Hash, Eq> calls;  // under mu
  };

  // Registers a caller of key: joins the call in flight or starts one.
  template <class F>
  std::shared_ptr<call> join(const Key& key, F&& fn) {
    std::unique_lock<mutex> l(s_->mu);
    auto it = s_->calls.find(key);
    if (it != s_->calls.end()) {
      it->second->waiters++;
      it->second->callers++;
      return it->second;
    }
    auto [call_ctx, cancel] = with_cancel(background());
    promise<T> p;
    auto c = std::make_shared<call>(call{p.get_future().share(), cancel, 1, 1, false});
    s_->calls.emplace(key, c);
    l.unlock();
    try {
      goro::go([s = s_, c, key, pr = std::move(p), cctx = call_ctx, f = std::decay_t<F>(std::forward<F>(fn))]() mutable {
        detail::fulfil_flight(pr, f, cctx, [&] {
          // The entry goes before the result is published: a caller that
          // sees no entry starts a new call, one that found it gets this
          // result.
          std::lock_guard<mutex> g(s->mu);
          c->done = true;
          erase_if_current(*s, key, c);
        });
        c->cancel();  // the call's context ends with the call
      });
    } catch (...) {
      std::lock_guard<mutex> g(s_->mu);
      erase_if_current(*s_, key, c);
      throw;
    }
    return c;
  }

  // A waiter gave up: the last one to leave cancels the call.
  void leave(const Key& key, const std::shared_ptr<call>& c) {
    bool last = false;
    {
      std::lock_guard<mutex> l(s_->mu);
      last = --c->waiters == 0 && !c->done;
      if (last) erase_if_current(*s_, key, c);
    }
    if (last) c->cancel("singleflight: every caller left");
  }

  static void erase_if_current(shared_state& s, const Key& key, const std::shared_ptr<call>& c) {
    auto it = s.calls.find(key);
    if (it != s.calls.end() && it->second == c) s.calls.erase(it);
  }

  std::shared_ptr<shared_state> s_;
};

}  // namespace goro
