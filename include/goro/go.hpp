// goro::go: spawn a fiber.
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <new>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>

#include "goro/detail/spawn.hpp"

namespace goro {

// Per-call settings of go().
struct spawn_options {
  // Stack size of this fiber; 0 = the runtime's default (options::stack_size).
  std::size_t stack_size = 0;
};

namespace detail {

template <class Tuple>
void fiber_entry_thunk(void* storage) {
  auto* t = static_cast<Tuple*>(storage);
  // The callable and its arguments are destroyed on the fiber, right after
  // the call (also when it throws: the exception then ends the process).
  struct destroy {
    Tuple* t;
    ~destroy() { t->~Tuple(); }
  } guard{t};
  std::apply([](auto& f, auto&... args) { std::invoke(std::move(f), std::move(args)...); }, *t);
}

template <class F, class... Args>
void spawn(const spawn_options& o, const std::source_location& where, F&& f, Args&&... args) {
  using Tuple = std::tuple<std::decay_t<F>, std::decay_t<Args>...>;
  static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                "goro::go: the callable cannot be invoked with these arguments (they are "
                "passed as rvalue copies, like std::thread)");
  spawn_slot s = spawn_prepare(sizeof(Tuple), alignof(Tuple), o.stack_size);
  try {
    ::new (s.storage) Tuple(std::forward<F>(f), std::forward<Args>(args)...);
  } catch (...) {
    spawn_abort(s.g);
    throw;
  }
  spawn_commit(s.g, &fiber_entry_thunk<Tuple>, where);
}

template <class F>
concept not_spawn_options = !std::same_as<std::remove_cvref_t<F>, spawn_options>;

}  // namespace detail

// go(fn, args...): run fn(args...) in a new fiber of the current runtime.
//
// The callable and arguments are decay-copied into the new fiber (like
// std::thread); use std::ref or capture by reference to share. The call
// site is recorded for deadlock reports and crash messages.
//
// Must be called from a fiber: outside a runtime it throws std::logic_error.
// Never waits for anything, but it is a scheduling point, like yield(): when
// the current P already has a runnable fiber queued, the new fiber runs at
// once and the caller resumes when it blocks or ends, possibly on another
// thread (work first, docs/design.md). So do not hold a std::mutex (or
// anything tied to the thread) across go(). Throws std::bad_alloc when no
// stack can be mapped and std::length_error when the callable does not fit
// in the stack.
//
// An exception escaping fn prints the exception, the fiber's id and where it
// was created, then aborts the process (an unrecovered panic, in Go terms);
// except goro::fiber_cancelled (the runtime unwinding a fiber left blocked
// when main returned), which ends the fiber quietly.
//
// Overloads exist for up to four arguments (more: use a lambda), each with
// an optional leading goro::spawn_options.
template <detail::not_spawn_options F>
void go(F&& f, std::source_location where = std::source_location::current()) {
  detail::spawn({}, where, std::forward<F>(f));
}
template <detail::not_spawn_options F, class A1>
void go(F&& f, A1&& a1, std::source_location where = std::source_location::current()) {
  detail::spawn({}, where, std::forward<F>(f), std::forward<A1>(a1));
}
template <detail::not_spawn_options F, class A1, class A2>
void go(F&& f, A1&& a1, A2&& a2, std::source_location where = std::source_location::current()) {
  detail::spawn({}, where, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2));
}
template <detail::not_spawn_options F, class A1, class A2, class A3>
void go(F&& f, A1&& a1, A2&& a2, A3&& a3,
        std::source_location where = std::source_location::current()) {
  detail::spawn({}, where, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2),
                std::forward<A3>(a3));
}
template <detail::not_spawn_options F, class A1, class A2, class A3, class A4>
void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4,
        std::source_location where = std::source_location::current()) {
  detail::spawn({}, where, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2),
                std::forward<A3>(a3), std::forward<A4>(a4));
}

template <class F>
void go(const spawn_options& o, F&& f, std::source_location where = std::source_location::current()) {
  detail::spawn(o, where, std::forward<F>(f));
}
template <class F, class A1>
void go(const spawn_options& o, F&& f, A1&& a1,
        std::source_location where = std::source_location::current()) {
  detail::spawn(o, where, std::forward<F>(f), std::forward<A1>(a1));
}
template <class F, class A1, class A2>
void go(const spawn_options& o, F&& f, A1&& a1, A2&& a2,
        std::source_location where = std::source_location::current()) {
  detail::spawn(o, where, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2));
}

}  // namespace goro
