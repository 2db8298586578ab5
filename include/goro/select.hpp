// goro::select: Go's select statement.
//
//   goro::select(
//       goro::on_recv(jobs, [&](std::optional<job> j) { ... }),  // nullopt: closed
//       goro::on_send(results, r, [&] { ... }),
//       goro::on_default([&] { ... }));                          // optional
//
// Semantics (Go's):
//  - Among the cases ready now, one is chosen uniformly at random; its
//    channel operation completes, then its handler runs (outside any lock).
//  - If none is ready: with an on_default case its handler runs at once;
//    otherwise the caller blocks on all cases together until one completes.
//  - A receive case on a closed, drained channel is ready: its handler gets
//    std::nullopt. A send case on a closed channel is ready too, and
//    choosing it throws closed_channel_error (like Go's panic).
//  - Cases on a nil channel are never ready; a select with no cases (or only
//    nil ones) and no default blocks forever.
//  - The same channel may appear in several cases, sends and receives mixed.
//  - Channels are locked in address order, so concurrent selects cannot
//    deadlock each other.
//  - The value of a send case is moved in when the case is built; it is
//    discarded if another case is chosen.
// A receive handler may take std::optional<T> or nothing; a send or default
// handler takes nothing. Handlers may be omitted (on_recv(ch), on_send(ch, v)).
//
// Returns the position (0-based, among select's arguments) of the case that
// ran. Callable from fibers and from threads outside the runtime.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "goro/chan.hpp"

namespace goro {

namespace detail {

struct no_handler {
  template <class... A>
  void operator()(A&&...) const noexcept {}
};

template <class T, class F>
struct recv_case {
  chan_core* c;
  F fn;
  std::optional<T> value{};
};

template <class T, class F>
struct send_case {
  chan_core* c;
  T value;
  F fn;
};

template <class F>
struct default_case {
  F fn;
};

template <class C>
struct case_traits {
  static constexpr bool is_default = false;
};
template <class F>
struct case_traits<default_case<F>> {
  static constexpr bool is_default = true;
};

template <class T, class F>
void fill(select_case& s, recv_case<T, F>& c) noexcept {
  s.c = c.c;
  s.elem = &c.value;
  s.is_send = false;
}
template <class T, class F>
void fill(select_case& s, send_case<T, F>& c) noexcept {
  s.c = c.c;
  s.elem = &c.value;
  s.is_send = true;
}

template <class T, class F>
void run_handler(recv_case<T, F>& c) {
  if constexpr (std::is_invocable_v<F&, std::optional<T>>) {
    std::invoke(c.fn, std::move(c.value));
  } else {
    static_assert(std::is_invocable_v<F&>,
                  "goro::on_recv handler must take std::optional<T> or nothing");
    std::invoke(c.fn);
  }
}
template <class T, class F>
void run_handler(send_case<T, F>& c) {
  static_assert(std::is_invocable_v<F&>, "goro::on_send handler must take no arguments");
  std::invoke(c.fn);
}
template <class F>
void run_handler(default_case<F>& c) {
  static_assert(std::is_invocable_v<F&>, "goro::on_default handler must take no arguments");
  std::invoke(c.fn);
}

}  // namespace detail

template <class T, class F = detail::no_handler>
detail::recv_case<T, std::decay_t<F>> on_recv(const chan<T>& ch, F&& fn = {}) {
  return {ch.core(), std::forward<F>(fn)};
}

template <class T, class V, class F = detail::no_handler>
  requires std::is_constructible_v<T, V&&>
detail::send_case<T, std::decay_t<F>> on_send(const chan<T>& ch, V&& value, F&& fn = {}) {
  return {ch.core(), T(std::forward<V>(value)), std::forward<F>(fn)};
}

template <class F>
detail::default_case<std::decay_t<F>> on_default(F&& fn) {
  return {std::forward<F>(fn)};
}

template <class... Cases>
std::size_t select(Cases&&... cs) {
  constexpr std::size_t ndefault = (std::size_t{0} + ... + (detail::case_traits<std::decay_t<Cases>>::is_default ? 1 : 0));
  static_assert(ndefault <= 1, "goro::select: at most one on_default case");
  constexpr std::size_t n = sizeof...(Cases) - ndefault;  // channel cases
  auto refs = std::forward_as_tuple(cs...);

  // Channel cases in argument order, and their argument positions.
  std::array<detail::select_case, n == 0 ? 1 : n> sc{};
  std::array<std::size_t, n == 0 ? 1 : n> pos{};
  std::size_t default_pos = sizeof...(Cases);
  {
    std::size_t k = 0, i = 0;
    auto visit = [&](auto& c) {
      using C = std::decay_t<decltype(c)>;
      if constexpr (detail::case_traits<C>::is_default) {
        default_pos = i;
      } else {
        detail::fill(sc[k], c);
        pos[k++] = i;
      }
      i++;
    };
    std::apply([&](auto&... c) { (visit(c), ...); }, refs);
  }
  std::array<detail::waiter, n == 0 ? 1 : n> waiters{};
  std::array<std::uint32_t, 2 * (n == 0 ? 1 : n)> scratch{};
  const int chosen = detail::select_impl(sc.data(), waiters.data(), scratch.data(),
                                         static_cast<std::uint32_t>(n), ndefault != 0);
  const std::size_t which = chosen < 0 ? default_pos : pos[static_cast<std::size_t>(chosen)];
  std::size_t i = 0;
  std::apply(
      [&](auto&... c) {
        ((i++ == which ? detail::run_handler(c) : void()), ...);
      },
      refs);
  return which;
}

}  // namespace goro
