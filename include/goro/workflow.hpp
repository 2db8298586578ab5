// goro::workflow: task orchestration in the process, on fibers (the model of
// Go's Machinery): tasks registered by name, composed into chains, groups
// and chords, run by worker fibers that take task messages from a broker.
//
//   namespace wf = goro::workflow;
//   wf::engine e(ctx, {.concurrency = 8});
//   e.register_task("add", [](std::int64_t a, std::int64_t b) { return a + b; });
//   e.register_task("fetch", [](const goro::context& c, std::string url) { return get(c, url); });
//   wf::async_result r = e.submit(wf::chain(wf::task("add", 1, 2), wf::task("add", 10)), run_ctx);
//   std::int64_t sum = r.get_as<std::int64_t>();  // 13: (1 + 2) + 10
//
// Semantics:
//  - Values: arguments and results cross task boundaries as `value`s, a
//    closed set of kinds (none, boolean, integer, real, string, list, error)
//    so that every message can be serialised. value_traits<T> converts a C++
//    type to and from a value: provided for bool, the integer and floating
//    types (range-checked), std::string, std::vector<T>, std::optional<T>
//    (none is nullopt) and value itself; specialise it for your own types.
//  - Tasks: register_task(name, fn) deduces fn's parameter and result types
//    (register_task<R(Args...)>(name, fn) for a generic lambda). fn may take
//    a `const goro::context&` first: the task's context (below). A void
//    result is the none value. fn may be called from several workers at
//    once. Registering a name twice throws workflow_error.
//  - A signature is a task's name, its arguments and its task_options:
//    retries with exponential backoff (retry_policy), a delay or an ETA, a
//    timeout per attempt, and `immutable`. task(name, args...) builds one.
//  - Flows: a signature, chain(steps...), group(members, limit) or
//    chord(group, callback, chord_options); each part of a flow is itself
//    any flow. In a chain each step's result becomes the next step's last
//    argument (for a group or chord step: every member's), except for an
//    immutable signature, which keeps its arguments as given. A group runs
//    its members in parallel, at most `limit` in progress at once (0: no
//    limit), and its result is the list of their results, in member order.
//    A chord runs its group, then its callback with that list as the last
//    argument; the chord's result is the callback's.
//  - Failures: a chain stops at a failing step and fails with its error; the
//    steps after it are skipped. A group waits for every member, then fails
//    with the error of the lowest-numbered failed member. A chord whose
//    group fails skips its callback, runs chord_options::on_error (if any)
//    with the error (an error value) as its last argument, then fails with
//    the member's error. With chord_options::all_settled the callback runs
//    whatever happens, with every member's outcome: its result, or an error
//    value for a failed member (and on_error is then refused: the callback
//    sees every failure). Durations (backoff, delay, timeout) over 50 years
//    are refused; a longer max_backoff means no cap.
//  - submit(flow, ctx) checks the whole flow first and throws workflow_error
//    for an unknown task name, a wrong number of arguments (counting the
//    result a step receives), an argument that does not convert to the
//    parameter type, or invalid options. The result passed along a chain
//    is converted when the step runs; a mismatch fails that step with
//    workflow_error (not retried).
//  - Results: submit returns an async_result for the flow, whose children()
//    are the results of its parts (chain steps, group members; a chord's
//    group, callback and on_error), down to every task. Each is a
//    shared_future<value> (get(), get(ctx), wait(), ready() for select: no
//    polling) with an observable task_state: pending, started, retry (a
//    failed attempt waits for its backoff), success, failure, cancelled,
//    skipped. attempts() counts a task's calls. A flow's result settles only
//    after every part of it has.
//  - Retries: an attempt that throws (anything but permanent_error and
//    workflow_error) or times out is retried up to retry_policy::max_retries
//    times; retry n (from 0) waits min(backoff * multiplier^n, max_backoff),
//    scaled by a random factor in [1 - jitter, 1]. The retry is a new
//    message whose ETA is the end of that wait. Then the task fails with the
//    last attempt's error.
//  - Time: delay and eta hold a message in the broker until then (the later
//    of the two when both are set); eta is wall-clock (system_clock) so that
//    a message means the same in another process. The memory broker waits
//    on goro's timers. A timeout runs each attempt with a context that
//    expires after it; the attempt then fails with task_timeout_error, also
//    if fn returned a value after the deadline. Timeouts are cooperative: a
//    fiber cannot be preempted, so fn must watch its context to stop early.
//  - Cancellation: every run is bound to the context given to submit (the
//    task's context passed to fn is a child of it). When it is done, every
//    task of the run that has not finished, whether queued, delayed,
//    waiting to retry or running, is settled at once: state cancelled, and
//    get() throws context_done_error with the context's err() and cause().
//    Queued messages are revoked from the broker; a running fn sees its
//    context done and what it returns is dropped.
//  - periodic(flow, interval, ctx) submits the flow every interval (the
//    first after one interval) until ctx is done or the periodic_job is
//    stopped; a run starts only after the previous one settled, with at most
//    one tick kept while it runs. Each run is bound to the job's context.
//  - The engine is bound to the context it is made with: when that is done,
//    or on stop() or destruction, the engine stops: every run is cancelled
//    (cause "goro::workflow: engine stopped", or the context's), the broker
//    is closed, and later submits throw workflow_error. The destructor then
//    waits for the worker fibers, so a running fn that ignores its context
//    delays it until fn returns.
//  - Exceptions: what a task throws is its failure, stored in its result;
//    workers never die of it. goro::fiber_cancelled (the runtime unwinding a
//    fiber left blocked when main returned) always propagates. Misuse
//    throws at the call: workflow_error (flows, registration, values),
//    std::invalid_argument (engine_options), std::logic_error (submit or
//    periodic outside a fiber).
//  - Where: make the engine, submit and periodic in fibers of one runtime
//    (they start fibers); async_result, periodic_job and value may be used
//    from any fiber or thread. Destroy the engine before the runtime's main
//    fiber returns, and never stop it from one of its own tasks (it would
//    wait for itself). A task may submit flows, but one that waits for them
//    holds its worker meanwhile: once every worker waits so, nothing runs.
//  - The broker: the engine publishes a task_message (id, name, every
//    argument, options, attempt, ETA) for each task to run, and its workers
//    consume due messages, run them and acknowledge them. memory_broker, the
//    default, keeps them in the process. Messages hold only values and plain
//    options, so a networked broker (Redis, say, once goro::net has a
//    client) can implement `broker` without any change to user code. Only
//    the messages would then survive; the orchestration (results, chain
//    positions, chord counts) lives in the engine, in memory. Durability:
//    with memory_broker nothing survives a crash or exit, and with any
//    broker a message left by a previous process has no engine record and
//    is dropped. One engine per broker. Deliveries are de-duplicated by
//    (id, attempt), so an at-least-once broker may deliver twice.
// Memory order: the engine's state is under one goro::mutex and the memory
// broker's under another; a message reaches its worker through the
// broker's lock, and the worker's results go back under the engine's. A
// result's state is an atomic stored under the engine's mutex (release)
// and read anywhere (acquire); the final state is stored before the result
// is set, and the future's own release/acquire makes it visible to whoever
// get() returned to. attempts and periodic_job::runs are relaxed counters
// (snapshots, ordering nothing).
#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "goro/chan.hpp"
#include "goro/context.hpp"
#include "goro/errors.hpp"
#include "goro/future.hpp"
#include "goro/go.hpp"
#include "goro/select.hpp"
#include "goro/sync.hpp"
#include "goro/this_fiber.hpp"
#include "goro/time.hpp"

namespace goro::workflow {

// Misuse: an unknown task, a wrong argument count or type, invalid options,
// a value of another kind than asked for, a stopped engine.
class workflow_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown by a task to fail at once, without the retries left.
class permanent_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An attempt's failure when its timeout passed before it returned.
class task_timeout_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What get() throws for a part of a flow that never ran because an earlier
// part failed (or, for a chord's on_error, because no member failed).
class skipped_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failure known only by its message: an error value built from text (as a
// broker decoding a message would), whose exception is rethrown as this.
class task_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class value_kind : unsigned char { none, boolean, integer, real, string, list, error };
const char* to_string(value_kind k) noexcept;

// A task argument or result: none, a boolean, a 64-bit integer, a double, a
// string, a list of values, or an error (a failure's message, and in the
// process its exception).
class value {
 public:
  using list = std::vector<value>;

 private:
  struct error_info {
    std::string message;
    std::exception_ptr exception;  // null once only the message is known
    friend bool operator==(const error_info& a, const error_info& b) noexcept { return a.message == b.message; }
  };
  // In value_kind's order.
  using storage = std::variant<std::monostate, bool, std::int64_t, double, std::string, list, error_info>;

 public:
  value() noexcept = default;  // none
  value(bool b) noexcept : v_(b) {}
  // Throws workflow_error for an unsigned value above INT64_MAX.
  template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
  value(I i) : v_(checked_int(i)) {}
  template <class F>
    requires std::is_floating_point_v<F>
  value(F d) noexcept : v_(static_cast<double>(d)) {}
  value(std::string s) noexcept : v_(std::move(s)) {}
  value(std::string_view s) : v_(std::string(s)) {}
  value(const char* s) : v_(std::string(s)) {}
  value(list l) noexcept : v_(std::move(l)) {}
  // Not from other pointers (they would convert to bool), nor from nullptr.
  template <class T>
  value(T*) = delete;
  value(std::nullptr_t) = delete;

  // An error value for a failure: its message is e's what(). e must not be
  // null (workflow_error).
  static value make_error(std::exception_ptr e);
  // An error value known only by its message; error() gives a task_error.
  static value make_error(std::string message);

  value_kind kind() const noexcept { return static_cast<value_kind>(v_.index()); }
  bool is_none() const noexcept { return kind() == value_kind::none; }
  bool is_error() const noexcept { return kind() == value_kind::error; }

  // The content; workflow_error when the kind differs. as_double() also
  // takes an integer.
  bool as_bool() const { return std::get<bool>(check(value_kind::boolean)); }
  std::int64_t as_int() const { return std::get<std::int64_t>(check(value_kind::integer)); }
  double as_double() const;
  const std::string& as_string() const { return std::get<std::string>(check(value_kind::string)); }
  const list& as_list() const { return std::get<list>(check(value_kind::list)); }
  // An error value's exception (a task_error when it was made from text)
  // and message.
  std::exception_ptr error() const;
  const std::string& error_message() const { return std::get<error_info>(check(value_kind::error)).message; }

  // value_traits<T>::from(*this).
  template <class T>
  T as() const;

  // JSON-like text, for messages and printing: null, true, 42, 1.5, "s",
  // [1, "a"], error("what").
  std::string to_string() const;

  // Same kind and content; errors compare by message.
  friend bool operator==(const value& a, const value& b) { return a.v_ == b.v_; }

 private:
  template <class I>
  static std::int64_t checked_int(I i) {
    if (!std::in_range<std::int64_t>(i)) throw workflow_error("goro::workflow::value: integer out of range");
    return static_cast<std::int64_t>(i);
  }
  // v_, after checking that it holds `want` (workflow_error otherwise).
  const storage& check(value_kind want) const;
  storage v_;
};

// Converts T to and from a value: `static value to(const T&)` and
// `static T from(const value&)` (throwing workflow_error when the value does
// not fit). Specialise it for your own types, building on these.
template <class T>
struct value_traits;

template <>
struct value_traits<value> {
  static value to(const value& v) { return v; }
  static value from(const value& v) { return v; }
};
template <>
struct value_traits<bool> {
  static value to(bool b) { return value(b); }
  static bool from(const value& v) { return v.as_bool(); }
};
template <class T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
struct value_traits<T> {
  static value to(T i) { return value(i); }
  static T from(const value& v) {
    const std::int64_t i = v.as_int();
    if (!std::in_range<T>(i))
      throw workflow_error("goro::workflow::value: " + std::to_string(i) + " is out of the parameter type's range");
    return static_cast<T>(i);
  }
};
template <class T>
  requires std::is_floating_point_v<T>
struct value_traits<T> {
  static value to(T d) { return value(d); }
  static T from(const value& v) {
    const double d = v.as_double();
    if (std::isfinite(d) && (d > static_cast<double>(std::numeric_limits<T>::max()) ||
                             d < -static_cast<double>(std::numeric_limits<T>::max())))
      throw workflow_error("goro::workflow::value: " + std::to_string(d) + " is out of the parameter type's range");
    return static_cast<T>(d);
  }
};
template <>
struct value_traits<std::string> {
  static value to(const std::string& s) { return value(s); }
  static std::string from(const value& v) { return v.as_string(); }
};
// Arguments only (a parameter of this type would dangle).
template <>
struct value_traits<const char*> {
  static value to(const char* s) { return value(s); }
};
template <class T>
struct value_traits<std::vector<T>> {
  static value to(const std::vector<T>& xs) {
    value::list l;
    l.reserve(xs.size());
    for (const T& x : xs) l.push_back(value_traits<T>::to(x));
    return value(std::move(l));
  }
  static std::vector<T> from(const value& v) {
    const value::list& l = v.as_list();
    std::vector<T> out;
    out.reserve(l.size());
    for (std::size_t i = 0; i < l.size(); i++) {
      try {
        out.push_back(value_traits<T>::from(l[i]));
      } catch (const workflow_error& e) {
        throw workflow_error("list element " + std::to_string(i) + ": " + e.what());
      }
    }
    return out;
  }
};
template <class T>
struct value_traits<std::optional<T>> {
  static value to(const std::optional<T>& x) { return x ? value_traits<T>::to(*x) : value(); }
  static std::optional<T> from(const value& v) {
    if (v.is_none()) return std::nullopt;
    return value_traits<T>::from(v);
  }
};

namespace detail {
template <class T>
concept to_value_convertible = requires(const T& x) {
  { value_traits<T>::to(x) } -> std::same_as<value>;
};
template <class T>
concept from_value_convertible = requires(const value& v) {
  { value_traits<T>::from(v) } -> std::same_as<T>;
};
}  // namespace detail

// x as a value (value_traits<std::decay_t<const T>>::to).
template <class T>
value to_value(const T& x) {
  using D = std::decay_t<const T>;  // a char array is a const char*
  static_assert(detail::to_value_convertible<D>,
                "goro::workflow::to_value: no goro::workflow::value_traits<T> for this type; specialise it");
  return value_traits<D>::to(x);
}

// v as a T (value_traits<T>::from); workflow_error when it does not fit.
template <class T>
T from_value(const value& v) {
  static_assert(detail::from_value_convertible<T>,
                "goro::workflow::from_value: no goro::workflow::value_traits<T>::from for this type; specialise it");
  return value_traits<T>::from(v);
}

template <class T>
T value::as() const {
  return from_value<T>(*this);
}

// How a failed attempt is retried (see the header comment).
struct retry_policy {
  // Attempts after the first; 0: no retry.
  int max_retries = 0;
  // The wait before the first retry.
  std::chrono::nanoseconds backoff{std::chrono::milliseconds(100)};
  // Each later wait is this much longer; at least 1.
  double multiplier = 2.0;
  // The cap on any wait.
  std::chrono::nanoseconds max_backoff{std::chrono::seconds(30)};
  // 0..1: each wait is scaled by a random factor in [1 - jitter, 1].
  double jitter = 0.0;
};

// A task's options (checked at submission: negative times, multiplier < 1
// or jitter outside [0, 1] throw workflow_error).
struct task_options {
  retry_policy retry{};
  // Not run before this long after it is queued.
  std::chrono::nanoseconds delay{0};
  // Not run before this wall-clock time.
  std::optional<std::chrono::system_clock::time_point> eta{};
  // Each attempt's limit; 0: none.
  std::chrono::nanoseconds timeout{0};
  // Keeps its arguments: no previous result is appended.
  bool immutable = false;
};

// One task invocation: what runs, with what, how.
struct signature {
  std::string name;
  std::vector<value> args{};
  task_options options{};

  // Setters for chaining: task("x", 1).retry({.max_retries = 3}).timeout(1s).
  signature& retry(const retry_policy& p) {
    options.retry = p;
    return *this;
  }
  template <class Rep, class Period>
  signature& delay(const std::chrono::duration<Rep, Period>& d) {
    options.delay = std::chrono::ceil<std::chrono::nanoseconds>(d);
    return *this;
  }
  signature& eta(std::chrono::system_clock::time_point t) {
    options.eta = t;
    return *this;
  }
  template <class Rep, class Period>
  signature& timeout(const std::chrono::duration<Rep, Period>& d) {
    options.timeout = std::chrono::ceil<std::chrono::nanoseconds>(d);
    return *this;
  }
  signature& immutable(bool on = true) {
    options.immutable = on;
    return *this;
  }
};

// A signature for task `name` with these arguments (each through to_value).
template <class... A>
signature task(std::string name, const A&... args) {
  return signature{.name = std::move(name), .args = {to_value(args)...}};
}

namespace detail {
enum class flow_kind : unsigned char { task, chain, group, chord };
struct flow_node;
}  // namespace detail

// A signature, chain, group or chord: what submit runs. Copies share one
// immutable description.
class flow {
 public:
  flow(signature s);

 private:
  friend struct detail::flow_node;
  explicit flow(std::shared_ptr<const detail::flow_node> n) noexcept : n_(std::move(n)) {}
  std::shared_ptr<const detail::flow_node> n_;
};

// Steps run one after the other (at least one, else workflow_error).
flow chain(std::vector<flow> steps);
template <class... F>
  requires(sizeof...(F) > 0 && (std::is_convertible_v<F, flow> && ...))
flow chain(F&&... steps) {
  return chain(std::vector<flow>{flow(std::forward<F>(steps))...});
}

// Members run in parallel, at most `limit` in progress at once (0: any).
flow group(std::vector<flow> members, std::size_t limit = 0);

struct chord_options {
  // Run with the first failed member's error (an error value) as its last
  // argument when the group fails; the chord then fails with that error.
  std::optional<flow> on_error{};
  // The callback runs even if members fail, with an error value for each.
  // Excludes on_error (chord() throws workflow_error for both).
  bool all_settled = false;
};

// header (a group, else workflow_error), then callback with the list of
// the group's results.
flow chord(flow header, flow callback, chord_options options = {});

enum class task_state : unsigned char { pending, started, retry, success, failure, cancelled, skipped };
const char* to_string(task_state s) noexcept;

namespace detail {
struct result_state;
class engine_state_access;
}  // namespace detail

// The result of a submitted flow or of one of its parts: a handle (copies
// share it). Every member but valid() throws workflow_error on a
// default-constructed one.
class async_result {
 public:
  async_result() noexcept = default;

  bool valid() const noexcept { return s_ != nullptr; }
  // The engine's id for this part (a task's is its messages' id).
  const std::string& id() const;
  // The task's name; "chain", "group" or "chord" for the others.
  const std::string& name() const;
  // A snapshot.
  task_state state() const;
  // How many times the task's function was called (0 for the others).
  int attempts() const;

  // Waits, then returns the value (valid while a copy of this handle lives)
  // or rethrows the failure.
  const value& get() const;
  // get(), giving up with context_done_error when ctx is done first.
  const value& get(const context& ctx) const;
  template <class T>
  T get_as() const {
    return from_value<T>(get());
  }
  void wait() const;
  bool is_ready() const;
  // A channel closed once the result is ready (for select).
  chan<std::monostate> ready() const;
  const shared_future<value>& future() const;
  // The parts' results: chain steps, group members; a chord's group,
  // callback and on_error. Empty for a task.
  const std::vector<async_result>& children() const;

 private:
  friend class detail::engine_state_access;
  explicit async_result(std::shared_ptr<detail::result_state> s) noexcept : s_(std::move(s)) {}
  std::shared_ptr<detail::result_state> s_;
};

namespace detail {

class engine_state_access {
 public:
  static async_result make(std::shared_ptr<result_state> s) noexcept { return async_result(std::move(s)); }
  static const result_state& of(const async_result& r);
};

// What async_result shows. id, name and children are fixed before the
// handle is given out; state and attempts change (see "Memory order").
struct result_state {
  std::string id;
  std::string name;
  std::atomic<task_state> state{task_state::pending};
  std::atomic<int> attempts{0};
  shared_future<value> future;
  std::vector<async_result> children;
};

inline const result_state& engine_state_access::of(const async_result& r) {
  if (!r.s_) throw workflow_error("goro::workflow::async_result: empty (default-constructed)");
  return *r.s_;
}

}  // namespace detail

inline const std::string& async_result::id() const { return detail::engine_state_access::of(*this).id; }
inline const std::string& async_result::name() const { return detail::engine_state_access::of(*this).name; }
inline task_state async_result::state() const {
  return detail::engine_state_access::of(*this).state.load(std::memory_order_acquire);  // pairs with the engine's release store
}
inline int async_result::attempts() const {
  return detail::engine_state_access::of(*this).attempts.load(std::memory_order_relaxed);  // a counter (snapshot)
}
inline const value& async_result::get() const { return detail::engine_state_access::of(*this).future.get(); }
inline const value& async_result::get(const context& ctx) const { return detail::engine_state_access::of(*this).future.get(ctx); }
inline void async_result::wait() const { detail::engine_state_access::of(*this).future.wait(); }
inline bool async_result::is_ready() const { return detail::engine_state_access::of(*this).future.is_ready(); }
inline chan<std::monostate> async_result::ready() const { return detail::engine_state_access::of(*this).future.ready(); }
inline const shared_future<value>& async_result::future() const { return detail::engine_state_access::of(*this).future; }
inline const std::vector<async_result>& async_result::children() const { return detail::engine_state_access::of(*this).children; }

// What a broker carries: everything a worker needs to run one attempt of a
// task. Plain data, serialisable by design.
struct task_message {
  std::string id;           // the task's id: unique, the same for every attempt
  std::string name;         // the registered task
  std::vector<value> args;  // every argument, the previous step's result included
  task_options options;
  int attempt = 0;          // 0 for the first
  std::chrono::system_clock::time_point eta{};  // not delivered before
};

// The queue between an engine and its workers. Implementations must be
// safe to call from many fibers at once; none may call back into the
// engine, and consume, ack and revoke must not throw (a networked broker
// retries inside).
class broker {
 public:
  virtual ~broker() = default;
  // Queues m, to be delivered once m.eta has passed. Throws if it cannot
  // (a closed broker: workflow_error); the task then fails with that error.
  virtual void publish(task_message m) = 0;
  // The next due message, waiting while there is none; nullopt once ctx is
  // done or the broker is closed. Called from fibers.
  virtual std::optional<task_message> consume(const context& ctx) = 0;
  // The consumer is done with this delivery (id and attempt): a durable
  // broker may delete it now.
  virtual void ack(const task_message& m) = 0;
  // Drops every queued message of task `id` (best effort: one being
  // delivered may still arrive; the engine drops it).
  virtual void revoke(const std::string& id) = 0;
  // Consumers get nullopt, publish throws from now on.
  virtual void close() = 0;
};

// The default broker: messages in memory, ordered by ETA then by arrival.
// A consumer waits on a channel poked by publish and on a goro::timer for
// the earliest ETA, so a delayed message costs no fiber. Nothing survives
// the process.
class memory_broker final : public broker {
 public:
  memory_broker() = default;
  memory_broker(const memory_broker&) = delete;
  memory_broker& operator=(const memory_broker&) = delete;

  void publish(task_message m) override;
  std::optional<task_message> consume(const context& ctx) override;
  void ack(const task_message&) override {}  // a delivered message is already gone
  void revoke(const std::string& id) override;
  void close() override;
  // Queued messages, due or not (a snapshot).
  std::size_t size() const;

 private:
  using key = std::pair<std::chrono::system_clock::time_point, std::uint64_t>;  // (ETA, arrival)
  void poke() noexcept { signal_.try_send(std::monostate{}); }

  mutable goro::mutex mu_;
  // Under mu_:
  std::map<key, task_message> queue_;
  std::unordered_multimap<std::string, key> index_;  // by task id, for revoke
  std::uint64_t seq_ = 0;
  bool closed_ = false;
  // One token: "look at the queue again". Consumers that take it and leave
  // pass it on while messages remain, so a wake-up is never lost.
  chan<std::monostate> signal_{1};
  chan<std::monostate> closed_ch_{0};  // closed by close()
};

struct engine_options {
  // Worker fibers running tasks; at least 1 (else std::invalid_argument).
  int concurrency = 4;
  // The queue; null: a new memory_broker.
  std::shared_ptr<goro::workflow::broker> broker{};
  // Each worker's stack; 0: the runtime's default.
  std::size_t stack_size = 0;
};

namespace detail {
struct periodic_state;
class engine_state;
}  // namespace detail

// A running periodic schedule (engine::periodic): a handle.
class periodic_job {
 public:
  // Runs submitted so far (a snapshot).
  std::int64_t runs() const noexcept;
  // The latest run's result; empty before the first.
  async_result last() const;
  // Ends the schedule: cancels its context, and so the run in progress.
  void stop() const;
  // Until the schedule has ended (its context done, stop(), or the engine
  // stopped) and its last run has settled.
  void wait() const;

 private:
  friend class detail::engine_state;
  explicit periodic_job(std::shared_ptr<detail::periodic_state> s) noexcept : s_(std::move(s)) {}
  std::shared_ptr<detail::periodic_state> s_;
};

namespace detail {

struct flow_node {
  flow_kind kind = flow_kind::task;
  signature sig{};  // task
  // Chain steps, group members; a chord's group, callback, then on_error.
  std::vector<std::shared_ptr<const flow_node>> parts;
  std::size_t limit = 0;     // group
  bool all_settled = false;  // chord
  bool has_on_error = false; // chord

  static const flow_node& of(const flow& f) noexcept { return *f.n_; }
  static std::shared_ptr<const flow_node> ptr(const flow& f) noexcept { return f.n_; }
  static flow wrap(std::shared_ptr<const flow_node> n) noexcept { return flow(std::move(n)); }
};

// A registered task, type-erased.
struct task_entry {
  std::size_t arity = 0;  // parameters, the context excepted
  // Throws workflow_error unless each of the given leading arguments
  // converts to its parameter's type.
  std::function<void(const std::vector<value>&)> check;
  // Converts the arguments, calls the function, converts its result.
  std::function<value(const context&, const std::vector<value>&)> invoke;
};

// A callable's signature R(A...), when it has exactly one.
template <class F>
struct call_signature;
template <class R, class... A>
struct call_signature<R (*)(A...)> {
  using type = R(A...);
};
template <class R, class... A>
struct call_signature<R (*)(A...) noexcept> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct call_signature<R (C::*)(A...)> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct call_signature<R (C::*)(A...) const> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct call_signature<R (C::*)(A...) noexcept> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct call_signature<R (C::*)(A...) const noexcept> {
  using type = R(A...);
};

template <class F>
concept has_call_signature =
    requires { typename call_signature<F>::type; } || requires { typename call_signature<decltype(&F::operator())>::type; };

template <class F>
auto deduced_signature() {
  if constexpr (requires { typename call_signature<F>::type; }) {
    return std::type_identity<typename call_signature<F>::type>{};
  } else {
    return std::type_identity<typename call_signature<decltype(&F::operator())>::type>{};
  }
}

template <class T>
T convert_arg(const std::string& task, const value& v, std::size_t i) {
  try {
    return value_traits<T>::from(v);
  } catch (const workflow_error& e) {
    throw workflow_error("goro::workflow: task '" + task + "', argument " + std::to_string(i + 1) + ": " + e.what());
  }
}

// The entry for fn, a callable R([const context&,] Args...).
template <class R, class... Args, class F>
std::shared_ptr<task_entry> make_entry(const std::string& name, F&& fn) {
  using D = std::decay_t<F>;
  constexpr bool plain = std::is_invocable_v<D&, Args...>;
  constexpr bool with_ctx = std::is_invocable_v<D&, const context&, Args...>;
  static_assert(plain || with_ctx,
                "goro::workflow::register_task: fn cannot be called with the given argument types "
                "(nor with a const goro::context& before them)");
  static_assert((!(std::is_lvalue_reference_v<Args> && !std::is_const_v<std::remove_reference_t<Args>>) && ...),
                "goro::workflow::register_task: a parameter is a non-const lvalue reference; take it by value "
                "or const reference");
  static_assert((from_value_convertible<std::remove_cvref_t<Args>> && ...),
                "goro::workflow::register_task: no goro::workflow::value_traits<T>::from for a parameter type; "
                "specialise it");
  static_assert(std::is_void_v<R> || to_value_convertible<std::remove_cvref_t<R>>,
                "goro::workflow::register_task: no goro::workflow::value_traits<T>::to for the result type; "
                "specialise it");
  using seq = std::index_sequence_for<Args...>;
  auto e = std::make_shared<task_entry>();
  e->arity = sizeof...(Args);
  e->check = [name](const std::vector<value>& args) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((I < args.size() ? (void)convert_arg<std::remove_cvref_t<Args>>(name, args[I], I) : void()), ...);
    }(seq{});
  };
  e->invoke = [name, f = std::make_shared<D>(std::forward<F>(fn))](const context& ctx,
                                                                   const std::vector<value>& args) -> value {
    if (args.size() != sizeof...(Args))
      throw workflow_error("goro::workflow: task '" + name + "' takes " + std::to_string(sizeof...(Args)) +
                           " arguments, got " + std::to_string(args.size()));
    return [&]<std::size_t... I>(std::index_sequence<I...>) -> value {
      // Braced: converted in order, so the first bad argument is reported.
      std::tuple<std::remove_cvref_t<Args>...> a{convert_arg<std::remove_cvref_t<Args>>(name, args[I], I)...};
      auto call = [&]() -> decltype(auto) {
        if constexpr (plain) {
          return std::invoke(*f, std::move(std::get<I>(a))...);
        } else {
          return std::invoke(*f, ctx, std::move(std::get<I>(a))...);
        }
      };
      if constexpr (std::is_void_v<R>) {
        call();
        return value();
      } else {
        return to_value(call());
      }
    }(seq{});
  };
  return e;
}

template <class Sig>
struct entry_maker;
template <class R, class... A>
struct entry_maker<R(A...)> {
  template <class F>
  static std::shared_ptr<task_entry> make(const std::string& name, F&& fn) {
    return make_entry<R, A...>(name, std::forward<F>(fn));
  }
};

// For a deduced signature: drops a leading context parameter, which
// make_entry passes again.
template <class Sig>
struct strip_context {
  using type = Sig;
};
template <class R, class C, class... A>
  requires std::is_same_v<std::remove_cvref_t<C>, context>
struct strip_context<R(C, A...)> {
  using type = R(A...);
};

std::string describe(const std::exception_ptr& e);

struct periodic_state {
  explicit periodic_state(cancel_func c) : cancel(std::move(c)) {}
  std::atomic<std::int64_t> runs{0};
  const cancel_func cancel;            // the job's context
  chan<std::monostate> ended{0};       // closed when the loop has ended
  goro::mutex mu;
  async_result last;                   // under mu
};

struct run_rec;

// One part of one run's flow: the engine's side of a result_state. All
// fields but `view`'s atomics are under the engine's mutex.
struct exec_node {
  const flow_node* def = nullptr;  // owned by the run's flow
  std::shared_ptr<result_state> view;
  promise<value> result;
  run_rec* run = nullptr;
  exec_node* parent = nullptr;
  std::size_t index = 0;  // in parent->parts
  std::vector<std::unique_ptr<exec_node>> parts;
  bool settled = false;
  // A task:
  bool queued = false;   // a message of it may be in the broker
  bool running = false;  // a worker is calling its function
  int next_attempt = 0;  // the attempt the next delivery must carry
  // A group:
  value input{};
  bool has_input = false;
  std::size_t next = 0, active = 0, finished = 0;
  std::vector<std::exception_ptr> errors;  // by member
  std::vector<value> results;              // by member
};

struct run_rec {
  run_rec(flow f, context c, cancel_func cf) : root_flow(std::move(f)), ctx(std::move(c)), cancel(std::move(cf)) {}
  const flow root_flow;  // keeps the definitions alive
  const context ctx;     // a child of the context given to submit
  const cancel_func cancel;
  std::unique_ptr<exec_node> root;  // set before the run is registered
  bool live = false;                // in engine_state::runs_; under the mutex
};

class engine_state : public std::enable_shared_from_this<engine_state> {
 public:
  engine_state(const context& parent, engine_options o) : engine_state(with_cancel(parent), std::move(o)) {}
  engine_state(const engine_state&) = delete;
  engine_state& operator=(const engine_state&) = delete;

  void start();
  void add_task(const std::string& name, std::shared_ptr<task_entry> e);
  bool has_task(const std::string& name);
  async_result submit(const flow& f, const context& ctx);
  periodic_job periodic(const flow& f, std::chrono::nanoseconds interval, const context& ctx);
  // Cancels every run, closes the broker, stops the workers; does not wait.
  void shutdown(const std::string& why);
  // shutdown(), then waits for every fiber the engine started.
  void stop();

 private:
  struct outcome {
    value v{};
    std::exception_ptr error{};  // null: success
  };
  // Broker calls and run releases decided under mu_, done after it.
  struct effects {
    std::vector<task_message> publish;
    std::vector<std::string> revoke;
    std::vector<std::shared_ptr<run_rec>> ended;
    bool empty() const noexcept { return publish.empty() && revoke.empty() && ended.empty(); }
  };

  engine_state(std::pair<context, cancel_func> ctx, engine_options o);

  void work();
  void process(const task_message& m);
  void periodic_loop(const flow& f, std::chrono::nanoseconds interval, const context& ctx, periodic_state& ps);
  void on_run_done(run_rec& run);
  void apply(effects fx);

  void validate_locked(const flow_node& n, bool has_input);
  std::unique_ptr<exec_node> build_locked(const flow_node& def, run_rec& run, exec_node* parent, std::size_t index);
  void start_locked(exec_node& n, const value& input, bool has_input, effects& fx);
  void launch_members_locked(exec_node& g, effects& fx);
  void settle_locked(exec_node& n, outcome o, effects& fx);
  void finalize_locked(exec_node& n, task_state s, const outcome& o, effects& fx);
  void part_done_locked(exec_node& p, std::size_t i, const outcome& o, effects& fx);
  void skip_locked(exec_node& n, const std::exception_ptr& cause, effects& fx);
  void cancel_run_locked(run_rec& run, effects& fx);
  void cancel_tree_locked(exec_node& n, const std::exception_ptr& why, effects& fx);
  void end_run_locked(run_rec& run, effects& fx);
  void mark_started_locked(exec_node& n);
  std::chrono::nanoseconds backoff_locked(const retry_policy& p, int retry);

  const std::shared_ptr<broker> broker_;
  const int concurrency_;
  const std::size_t stack_size_;
  const context ctx_;  // the engine's own: a child of the one it was made with
  const cancel_func cancel_;
  std::optional<after_func_handle> ctx_watch_;  // set by start(), before any other fiber sees it
  wait_group fibers_;                           // workers and periodic loops

  goro::mutex mu_;
  // Under mu_:
  bool stopped_ = false;
  std::string id_prefix_;
  std::uint64_t next_id_ = 0;
  std::mt19937_64 rng_;
  std::unordered_map<std::string, std::shared_ptr<const task_entry>> tasks_;
  std::unordered_map<std::string, exec_node*> live_;  // unsettled tasks that were started, by id
  std::unordered_map<const run_rec*, std::shared_ptr<run_rec>> runs_;
};

}  // namespace detail

// Registered tasks, their workers, and the runs submitted to them (see the
// top of this header). Not copyable; stops in its destructor.
class engine {
 public:
  // Starts the workers; in a fiber. Bound to ctx: the engine stops when it
  // is done.
  explicit engine(const context& ctx, engine_options o = {});
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;
  ~engine() { st_->stop(); }

  // Registers fn as task `name` (non-empty; once). Sig is deduced from fn,
  // or given as R(Args...) (for a generic lambda); a leading
  // `const goro::context&` parameter gets the task's context.
  template <class Sig = void, class F>
  void register_task(std::string name, F&& fn) {
    using D = std::decay_t<F>;
    if constexpr (std::is_void_v<Sig>) {
      static_assert(detail::has_call_signature<D>,
                    "goro::workflow::register_task: cannot deduce fn's signature (a generic lambda or an "
                    "overloaded operator()): give it, register_task<R(Args...)>(name, fn)");
      using full = typename decltype(detail::deduced_signature<D>())::type;
      using sig = typename detail::strip_context<full>::type;
      st_->add_task(name, detail::entry_maker<sig>::make(name, std::forward<F>(fn)));
    } else {
      static_assert(std::is_function_v<Sig>, "goro::workflow::register_task<Sig>: Sig is R(Args...)");
      st_->add_task(name, detail::entry_maker<Sig>::make(name, std::forward<F>(fn)));
    }
  }
  bool has_task(const std::string& name) const { return st_->has_task(name); }

  // Checks the flow (workflow_error), then runs it, bound to ctx. In a
  // fiber (std::logic_error otherwise).
  async_result submit(const flow& f, const context& ctx) { return st_->submit(f, ctx); }
  async_result submit(const flow& f) { return st_->submit(f, background()); }

  // Submits f every interval (> 0, else workflow_error) until ctx is done or
  // the job is stopped. In a fiber.
  template <class Rep, class Period>
  periodic_job periodic(const flow& f, const std::chrono::duration<Rep, Period>& interval, const context& ctx) {
    return st_->periodic(f, std::chrono::ceil<std::chrono::nanoseconds>(interval), ctx);
  }

  // Stops the engine (see the top of this header) and waits for its fibers.
  // Idempotent.
  void stop() { st_->stop(); }

 private:
  std::shared_ptr<detail::engine_state> st_;
};

}  // namespace goro::workflow
