// goro::errgroup: Go's golang.org/x/sync/errgroup. Runs a group of fibers
// working on parts of one task and collects the first failure.
//
//   auto [g, ctx] = goro::errgroup::with_context(parent);
//   for (auto& url : urls)
//     g.go([ctx, url]() -> std::error_code { return fetch(ctx, url); });
//   if (std::error_code ec = g.wait()) ...;   // the first failure
//
// Semantics:
//  - go(fn) runs fn in a new fiber. fn returns void or std::error_code (a
//    non-zero code is a failure) and may throw.
//  - The first failure wins, whether a code or an exception; later ones
//    are dropped. wait() waits for every fiber started by go/try_go, then
//    returns that code, or rethrows that exception (capture-and-rethrow,
//    the default policy). With errgroup_policy::terminate an exception is
//    not caught: it escapes the fiber, which is fatal, as for any fiber.
//  - with_context(parent): the group's context is cancelled at the first
//    failure, with the failure as its cause (the code's message, or the
//    exception's what()), and otherwise when wait() returns.
//  - set_limit(n): at most n fibers of the group run at once; go() then
//    blocks while n are running, try_go() returns false instead. n < 0 means
//    no limit (the default). Changing the limit while fibers of the group
//    run throws std::logic_error (as Go's panics).
//  - A default-constructed group is usable (no context, no limit).
//  - errgroup is a handle: copies (for instance captured by the fibers)
//    share one group. go() must be called from a fiber in a runtime; wait()
//    may be called from fibers and from threads outside the runtime.
//  - goro::fiber_cancelled (a fiber unwound after main returned) is never
//    captured: it goes on unwinding the fiber, which still counts as done.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "goro/context.hpp"
#include "goro/detail/spinlock.hpp"
#include "goro/errors.hpp"
#include "goro/go.hpp"
#include "goro/sync.hpp"

namespace goro {

enum class errgroup_policy : unsigned char {
  capture,    // an exception is the group's failure; wait() rethrows it
  terminate,  // an exception escapes the fiber (fatal)
};

class errgroup {
 public:
  errgroup() : s_(std::make_shared<state>()) {}
  explicit errgroup(errgroup_policy policy) : errgroup() { s_->policy = policy; }

  // A group whose context (the second element) is a child of parent,
  // cancelled at the group's first failure or when wait() returns.
  static std::pair<errgroup, context> with_context(const context& parent,
                                                   errgroup_policy policy = errgroup_policy::capture) {
    errgroup g(policy);
    auto [ctx, cancel] = with_cancel(parent);
    g.s_->cancel = std::move(cancel);
    return {std::move(g), std::move(ctx)};
  }

  // Runs fn() in a new fiber of the group, after waiting for a free slot
  // when a limit is set.
  template <class F>
  void go(F&& fn) {
    check_callable<F>();
    if (s_->limit) s_->limit->acquire();
    start(std::forward<F>(fn));
  }

  // go(), unless the limit is reached: then nothing starts and it returns
  // false.
  template <class F>
  bool try_go(F&& fn) {
    check_callable<F>();
    if (s_->limit && !s_->limit->try_acquire()) return false;
    start(std::forward<F>(fn));
    return true;
  }

  // At most n fibers of the group at once (n < 0: no limit). Throws
  // std::logic_error while fibers of the group are running.
  void set_limit(std::int64_t n) {
    if (s_->wg.count() != 0)
      throw std::logic_error("goro::errgroup::set_limit: fibers of the group are still running");
    if (n < 0) {
      s_->limit.reset();
    } else {
      s_->limit.emplace(static_cast<std::uint64_t>(n));
    }
  }

  // Waits for every fiber of the group; returns the first failure's code,
  // or rethrows the first failure's exception; an empty code if none failed.
  std::error_code wait() {
    s_->wg.wait();
    // The wait_group orders every fiber's record() before this point.
    if (s_->cancel) (*s_->cancel)(s_->cause.empty() ? std::string("errgroup: wait returned") : s_->cause);
    if (s_->error) std::rethrow_exception(s_->error);
    return s_->code;
  }

 private:
  struct state {
    errgroup_policy policy = errgroup_policy::capture;
    wait_group wg;
    std::optional<semaphore> limit;      // set only while no fiber runs
    std::optional<cancel_func> cancel;   // with_context only
    detail::spinlock lock;               // the first failure
    bool failed = false;                 // under lock
    std::error_code code;                // under lock; read after wg.wait()
    std::exception_ptr error;            // under lock; read after wg.wait()
    std::string cause;                   // under lock; read after wg.wait()

    // Keeps the first failure and cancels the context with it.
    void record(std::error_code ec, std::exception_ptr ex, std::string why) {
      {
        std::lock_guard<detail::spinlock> l(lock);
        if (failed) return;
        failed = true;
        code = ec;
        error = std::move(ex);
        cause = why;
      }
      if (cancel) (*cancel)(std::move(why));
    }
  };

  template <class F>
  static void check_callable() {
    using R = std::invoke_result_t<std::decay_t<F>&>;
    static_assert(std::is_void_v<R> || std::is_same_v<R, std::error_code>,
                  "goro::errgroup: the function must return void or std::error_code");
  }

  static std::string describe(const std::exception_ptr& ex) {
    try {
      std::rethrow_exception(ex);
    } catch (const std::exception& e) {
      return e.what();
    } catch (...) {
      return "unknown exception";
    }
  }

  template <class F>
  void start(F&& fn) {
    s_->wg.add(1);
    try {
      goro::go(
          [](std::shared_ptr<state> s, std::decay_t<F> f) {
            // Runs on every way out, fiber_cancelled included.
            struct finish {
              state* s;
              ~finish() {
                if (s->limit) s->limit->release();
                s->wg.done();
              }
            } guard{s.get()};
            using R = std::invoke_result_t<std::decay_t<F>&>;
            if (s->policy == errgroup_policy::terminate) {
              if constexpr (std::is_void_v<R>) {
                f();
              } else if (std::error_code ec = f()) {
                s->record(ec, nullptr, "errgroup: " + ec.message());
              }
              return;
            }
            try {
              if constexpr (std::is_void_v<R>) {
                f();
              } else if (std::error_code ec = f()) {
                s->record(ec, nullptr, "errgroup: " + ec.message());
              }
            } catch (const fiber_cancelled&) {
              throw;
            } catch (...) {
              std::exception_ptr ex = std::current_exception();
              std::string why = "errgroup: " + describe(ex);
              s->record({}, std::move(ex), std::move(why));
            }
          },
          s_, std::forward<F>(fn));
    } catch (...) {
      // go() failed (no stack, or outside a runtime): nothing started.
      if (s_->limit) s_->limit->release();
      s_->wg.done();
      throw;
    }
  }

  std::shared_ptr<state> s_;
};

}  // namespace goro
