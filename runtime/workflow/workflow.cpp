// goro::workflow (include/goro/workflow.hpp): values, flows, the memory
// broker and the engine.
//
// The engine's orchestration in one picture: submit builds a tree of
// exec_nodes mirroring the flow (each with the result_state its
// async_result shows) and starts the root. Starting a task queues a message;
// a worker consumes it, runs the function outside the lock, and settles the
// node, which tells its parent (part_done_locked), which starts the next
// part or settles in turn, up to the root, whose settling ends the run.
// Every decision is taken under mu_; what talks to the broker, and the
// release of ended runs, is collected in `effects` and done after mu_ is
// released (apply), so that a slow broker never holds up the engine.
//
// Invariants (under mu_):
//  - A node settles once, and only after every part of it has settled (a
//    part that will not run is skipped or cancelled first).
//  - live_ holds exactly the task nodes that were started and have not
//    settled; a message whose id is not there is stale and is dropped.
//  - runs_ holds the runs whose root has not settled (run_rec::live); a
//    run leaves it only through end_run_locked.
#include "goro/workflow.hpp"

#include <cinttypes>
#include <cstdio>

namespace goro::workflow {

// --- values -----------------------------------------------------------------

const char* to_string(value_kind k) noexcept {
  switch (k) {
    case value_kind::none: return "none";
    case value_kind::boolean: return "boolean";
    case value_kind::integer: return "integer";
    case value_kind::real: return "real";
    case value_kind::string: return "string";
    case value_kind::list: return "list";
    case value_kind::error: return "error";
  }
  return "?";
}

value value::make_error(std::exception_ptr e) {
  if (!e) throw workflow_error("goro::workflow::value::make_error: null exception_ptr");
  value v;
  v.v_.emplace<error_info>(error_info{detail::describe(e), std::move(e)});
  return v;
}

value value::make_error(std::string message) {
  value v;
  v.v_.emplace<error_info>(error_info{std::move(message), nullptr});
  return v;
}

const value::storage& value::check(value_kind want) const {
  if (kind() != want)
    throw workflow_error(std::string("goro::workflow::value: expected ") + workflow::to_string(want) + ", got " +
                         workflow::to_string(kind()));
  return v_;
}

double value::as_double() const {
  if (kind() == value_kind::integer) return static_cast<double>(std::get<std::int64_t>(v_));
  return std::get<double>(check(value_kind::real));
}

std::exception_ptr value::error() const {
  const error_info& e = std::get<error_info>(check(value_kind::error));
  return e.exception ? e.exception : std::make_exception_ptr(task_error(e.message));
}

namespace {

void append_quoted(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void append(std::string& out, const value& v) {
  switch (v.kind()) {
    case value_kind::none: out += "null"; break;
    case value_kind::boolean: out += v.as_bool() ? "true" : "false"; break;
    case value_kind::integer: out += std::to_string(v.as_int()); break;
    case value_kind::real: {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, v.as_double());
      out.append(buf, r.ptr);
      break;
    }
    case value_kind::string: append_quoted(out, v.as_string()); break;
    case value_kind::list: {
      out += '[';
      bool first = true;
      for (const value& x : v.as_list()) {
        if (!first) out += ", ";
        first = false;
        append(out, x);
      }
      out += ']';
      break;
    }
    case value_kind::error:
      out += "error(";
      append_quoted(out, v.error_message());
      out += ')';
      break;
  }
}

}  // namespace

std::string value::to_string() const {
  std::string out;
  append(out, *this);
  return out;
}

// --- flows --------------------------------------------------------------------

flow::flow(signature s) {
  auto n = std::make_shared<detail::flow_node>();
  n->kind = detail::flow_kind::task;
  n->sig = std::move(s);
  n_ = std::move(n);
}

flow chain(std::vector<flow> steps) {
  if (steps.empty()) throw workflow_error("goro::workflow::chain: a chain needs at least one step");
  auto n = std::make_shared<detail::flow_node>();
  n->kind = detail::flow_kind::chain;
  for (const flow& f : steps) n->parts.push_back(detail::flow_node::ptr(f));
  return detail::flow_node::wrap(std::move(n));
}

flow group(std::vector<flow> members, std::size_t limit) {
  auto n = std::make_shared<detail::flow_node>();
  n->kind = detail::flow_kind::group;
  n->limit = limit;
  for (const flow& f : members) n->parts.push_back(detail::flow_node::ptr(f));
  return detail::flow_node::wrap(std::move(n));
}

flow chord(flow header, flow callback, chord_options options) {
  if (detail::flow_node::of(header).kind != detail::flow_kind::group)
    throw workflow_error("goro::workflow::chord: the header must be a group");
  if (options.all_settled && options.on_error)
    throw workflow_error(
        "goro::workflow::chord: on_error and all_settled exclude each other (all_settled hands every failure to the "
        "callback)");
  auto n = std::make_shared<detail::flow_node>();
  n->kind = detail::flow_kind::chord;
  n->all_settled = options.all_settled;
  n->parts.push_back(detail::flow_node::ptr(header));
  n->parts.push_back(detail::flow_node::ptr(callback));
  if (options.on_error) {
    n->has_on_error = true;
    n->parts.push_back(detail::flow_node::ptr(*options.on_error));
  }
  return detail::flow_node::wrap(std::move(n));
}

const char* to_string(task_state s) noexcept {
  switch (s) {
    case task_state::pending: return "pending";
    case task_state::started: return "started";
    case task_state::retry: return "retry";
    case task_state::success: return "success";
    case task_state::failure: return "failure";
    case task_state::cancelled: return "cancelled";
    case task_state::skipped: return "skipped";
  }
  return "?";
}

// --- memory broker ------------------------------------------------------------

void memory_broker::publish(task_message m) {
  {
    std::lock_guard<goro::mutex> lk(mu_);
    if (closed_) throw workflow_error("goro::workflow::memory_broker: publish on a closed broker");
    const key k{m.eta, seq_++};
    std::string id = m.id;
    queue_.emplace(k, std::move(m));
    index_.emplace(std::move(id), k);
  }
  poke();
}

std::optional<task_message> memory_broker::consume(const context& ctx) {
  const chan<std::monostate> done = ctx.done();
  for (;;) {
    std::optional<std::chrono::nanoseconds> wait;
    {
      std::lock_guard<goro::mutex> lk(mu_);
      if (closed_) return std::nullopt;
      if (ctx.err() != context_error::none) {
        // This consumer may have taken the token meant for another.
        if (!queue_.empty()) poke();
        return std::nullopt;
      }
      if (!queue_.empty()) {
        auto it = queue_.begin();
        const auto now = std::chrono::system_clock::now();
        if (it->first.first <= now) {
          task_message m = std::move(it->second);
          auto [b, e] = index_.equal_range(m.id);
          for (auto i = b; i != e; ++i) {
            if (i->second == it->first) {
              index_.erase(i);
              break;
            }
          }
          queue_.erase(it);
          // Others may be waiting for what is left (one token was taken).
          if (!queue_.empty()) poke();
          return m;
        }
        wait = std::chrono::ceil<std::chrono::nanoseconds>(it->first.first - now);
      }
    }
    // A publish after the check above finds the token slot free or already
    // full: either way a token is there for this select.
    if (wait) {
      timer t(*wait);  // stopped when it goes out of scope
      goro::select(on_recv(signal_), on_recv(closed_ch_), on_recv(done), on_recv(t.channel()));
    } else {
      goro::select(on_recv(signal_), on_recv(closed_ch_), on_recv(done));
    }
  }
}

void memory_broker::revoke(const std::string& id) {
  std::lock_guard<goro::mutex> lk(mu_);
  auto [b, e] = index_.equal_range(id);
  for (auto i = b; i != e; ++i) queue_.erase(i->second);
  index_.erase(b, e);
}

void memory_broker::close() {
  std::lock_guard<goro::mutex> lk(mu_);
  if (closed_) return;
  closed_ = true;
  closed_ch_.close();  // under mu_: exactly once
}

std::size_t memory_broker::size() const {
  std::lock_guard<goro::mutex> lk(mu_);
  return queue_.size();
}

// --- results ------------------------------------------------------------------

std::int64_t periodic_job::runs() const noexcept {
  return s_->runs.load(std::memory_order_relaxed);  // a counter (snapshot)
}

async_result periodic_job::last() const {
  std::lock_guard<goro::mutex> lk(s_->mu);
  return s_->last;
}

void periodic_job::stop() const { s_->cancel("goro::workflow: periodic job stopped"); }

void periodic_job::wait() const {
  chan<std::monostate> ended = s_->ended;
  ended.recv();  // nullopt once closed
}

// --- the engine -----------------------------------------------------------------

engine::engine(const context& ctx, engine_options o) {
  if (o.concurrency < 1) throw std::invalid_argument("goro::workflow::engine: concurrency must be at least 1");
  if (this_fiber::id() == 0) throw std::logic_error("goro::workflow::engine: make it in a fiber of the runtime");
  st_ = std::make_shared<detail::engine_state>(ctx, std::move(o));
  st_->start();
}

namespace detail {

std::string describe(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}

namespace {

const char* kind_name(flow_kind k) noexcept {
  switch (k) {
    case flow_kind::task: return "task";
    case flow_kind::chain: return "chain";
    case flow_kind::group: return "group";
    case flow_kind::chord: return "chord";
  }
  return "?";
}

// Whether a failed attempt may be retried: not when the task said so, nor
// for misuse (arguments that do not convert fail every attempt alike).
bool retryable(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const permanent_error&) {
    return false;
  } catch (const workflow_error&) {
    return false;
  } catch (...) {
    return true;
  }
}

// The longest delay, timeout or backoff accepted (time points a wait's
// length ahead must stay representable); a longer max_backoff is clamped.
constexpr std::chrono::nanoseconds longest_wait = std::chrono::hours(24 * 365 * 50);

void check_options(const signature& s) {
  const task_options& o = s.options;
  const retry_policy& r = o.retry;
  const char* bad = nullptr;
  if (r.max_retries < 0) bad = "retry.max_retries is negative";
  else if (r.backoff.count() < 0) bad = "retry.backoff is negative";
  else if (r.max_backoff.count() < 0) bad = "retry.max_backoff is negative";
  else if (!(r.multiplier >= 1.0) || !std::isfinite(r.multiplier)) bad = "retry.multiplier must be finite and at least 1";
  else if (!(r.jitter >= 0.0 && r.jitter <= 1.0)) bad = "retry.jitter must be within [0, 1]";
  else if (o.delay.count() < 0) bad = "delay is negative";
  else if (o.timeout.count() < 0) bad = "timeout is negative";
  else if (r.backoff > longest_wait || o.delay > longest_wait || o.timeout > longest_wait)
    bad = "a backoff, delay or timeout over 50 years";
  if (bad) throw workflow_error("goro::workflow: task '" + s.name + "': " + bad);
}

// Runs the task's function; what it throws (but fiber_cancelled) is the
// attempt's error.
std::exception_ptr call_task(const task_entry& e, const context& ctx, const std::vector<value>& args, value& out) {
  try {
    out = e.invoke(ctx, args);
    return nullptr;
  } catch (const fiber_cancelled&) {
    throw;
  } catch (...) {
    return std::current_exception();
  }
}

}  // namespace

engine_state::engine_state(std::pair<context, cancel_func> ctx, engine_options o)
    : broker_(o.broker ? std::move(o.broker) : std::make_shared<memory_broker>()),
      concurrency_(o.concurrency),
      stack_size_(o.stack_size),
      ctx_(std::move(ctx.first)),
      cancel_(std::move(ctx.second)),
      rng_(std::random_device{}()) {
  // Ids unique across engines, should messages from several meet in one
  // networked broker.
  char buf[24];
  std::snprintf(buf, sizeof buf, "%08" PRIx32 "-", static_cast<std::uint32_t>(rng_()));
  id_prefix_ = buf;
}

void engine_state::start() {
  auto self = shared_from_this();
  try {
    ctx_watch_ = after_func(ctx_, [self] { self->shutdown(self->ctx_.cause()); });
  } catch (...) {
    cancel_();
    throw;
  }
  for (int i = 0; i < concurrency_; i++) {
    fibers_.add(1);
    try {
      go(spawn_options{.stack_size = stack_size_}, [self] {
        struct finish {
          wait_group& wg;
          ~finish() { wg.done(); }
        } guard{self->fibers_};
        self->work();
      });
    } catch (...) {
      fibers_.done();
      stop();
      throw;
    }
  }
}

void engine_state::add_task(const std::string& name, std::shared_ptr<task_entry> e) {
  if (name.empty()) throw workflow_error("goro::workflow::engine::register_task: empty task name");
  std::lock_guard<goro::mutex> lk(mu_);
  if (!tasks_.emplace(name, std::move(e)).second)
    throw workflow_error("goro::workflow::engine::register_task: task '" + name + "' is already registered");
}

bool engine_state::has_task(const std::string& name) {
  std::lock_guard<goro::mutex> lk(mu_);
  return tasks_.count(name) != 0;
}

async_result engine_state::submit(const flow& f, const context& ctx) {
  if (this_fiber::id() == 0)
    throw std::logic_error("goro::workflow::engine::submit: call it from a fiber of the engine's runtime");
  auto rc = with_cancel(ctx);
  auto run = std::make_shared<run_rec>(f, rc.first, rc.second);
  // The run's watcher: cancels the run when its context is done. Started
  // before mu_ is taken (go() is a scheduling point). The run's end cancels
  // the context too, so the watcher always ends; by then the run is no
  // longer live and cancel_run_locked does nothing.
  try {
    after_func(run->ctx, [self = shared_from_this(), run] { self->on_run_done(*run); });
  } catch (...) {
    run->cancel();
    throw;
  }
  effects fx;
  async_result result;
  try {
    std::lock_guard<goro::mutex> lk(mu_);
    if (stopped_) throw workflow_error("goro::workflow::engine::submit: the engine has stopped");
    const flow_node& def = flow_node::of(run->root_flow);
    validate_locked(def, false);
    run->root = build_locked(def, *run, nullptr, 0);
    result = engine_state_access::make(run->root->view);
    run->live = true;
    runs_.emplace(run.get(), run);
    if (run->ctx.err() != context_error::none) {
      cancel_run_locked(*run, fx);  // submitted with a context already done
    } else {
      start_locked(*run->root, value(), false, fx);
    }
  } catch (...) {
    run->cancel();  // the run never went live: its watcher ends doing nothing
    throw;
  }
  apply(std::move(fx));
  return result;
}

periodic_job engine_state::periodic(const flow& f, std::chrono::nanoseconds interval, const context& ctx) {
  if (this_fiber::id() == 0)
    throw std::logic_error("goro::workflow::engine::periodic: call it from a fiber of the engine's runtime");
  if (interval.count() <= 0) throw workflow_error("goro::workflow::engine::periodic: the interval must be positive");
  {
    std::lock_guard<goro::mutex> lk(mu_);
    if (stopped_) throw workflow_error("goro::workflow::engine::periodic: the engine has stopped");
    validate_locked(flow_node::of(f), false);
    // Counted before the lock is released: a stop() that sets stopped_
    // after this waits for the loop.
    fibers_.add(1);
  }
  std::shared_ptr<periodic_state> ps;
  context pctx;
  try {
    auto pc = with_cancel(ctx);
    pctx = pc.first;
    ps = std::make_shared<periodic_state>(std::move(pc.second));
  } catch (...) {
    fibers_.done();
    throw;
  }
  try {
    go([self = shared_from_this(), f, interval, pctx, ps] {
      struct finish {
        engine_state& st;
        periodic_state& p;
        ~finish() {
          p.cancel();       // releases the job's context
          p.ended.close();  // only here: once
          st.fibers_.done();
        }
      } guard{*self, *ps};
      self->periodic_loop(f, interval, pctx, *ps);
    });
  } catch (...) {
    fibers_.done();
    ps->cancel();
    throw;
  }
  return periodic_job(std::move(ps));
}

void engine_state::periodic_loop(const flow& f, std::chrono::nanoseconds interval, const context& ctx,
                                 periodic_state& ps) {
  ticker tick(interval);
  for (;;) {
    goro::select(on_recv(tick.channel()), on_recv(ctx.done()), on_recv(ctx_.done()));
    if (ctx.err() != context_error::none || ctx_.err() != context_error::none) return;
    async_result r;
    try {
      r = submit(f, ctx);
    } catch (const workflow_error&) {
      return;  // the engine stopped since the check above
    }
    {
      std::lock_guard<goro::mutex> lk(ps.mu);
      ps.last = r;
    }
    ps.runs.fetch_add(1, std::memory_order_relaxed);  // a counter (snapshot)
    r.wait();  // settles at the latest when ctx is done or the engine stops
  }
}

void engine_state::shutdown(const std::string& why) {
  effects fx;
  {
    std::lock_guard<goro::mutex> lk(mu_);
    if (stopped_) return;
    stopped_ = true;
    // The shutdown itself counts as one of the engine's fibers, so that a
    // stop() racing with it returns only once the broker is closed and
    // the revokes are done.
    fibers_.add(1);
    std::vector<run_rec*> all;
    all.reserve(runs_.size());
    for (auto& r : runs_) all.push_back(r.second.get());
    for (run_rec* r : all) {
      r->cancel(why);  // a run whose context is already done keeps its cause
      cancel_run_locked(*r, fx);
    }
  }
  struct done {
    wait_group& wg;
    ~done() { wg.done(); }
  } guard{fibers_};
  cancel_(why);  // workers leave consume(); periodic loops end
  broker_->close();
  apply(std::move(fx));
}

void engine_state::stop() {
  // The engine's context may have ended just now, its watcher not yet run:
  // its cause, not ours.
  shutdown(ctx_.err() != context_error::none ? ctx_.cause() : "goro::workflow: engine stopped");
  if (ctx_watch_) ctx_watch_->stop();
  fibers_.wait();
}

void engine_state::work() {
  for (;;) {
    std::optional<task_message> m = broker_->consume(ctx_);
    if (!m) return;
    process(*m);
    broker_->ack(*m);
  }
}

void engine_state::process(const task_message& m) {
  std::shared_ptr<run_rec> keep;  // keeps the run, and so *n, alive while the function runs
  std::shared_ptr<const task_entry> entry;
  exec_node* n = nullptr;
  context run_ctx;
  {
    effects fx;
    std::unique_lock<goro::mutex> lk(mu_);
    auto it = live_.find(m.id);
    if (it == live_.end()) return;  // settled already: a stale message
    n = it->second;
    if (n->running || m.attempt != n->next_attempt) return;  // a duplicate delivery
    if (n->run->ctx.err() != context_error::none) {
      cancel_run_locked(*n->run, fx);  // ahead of the run's watcher
      lk.unlock();
      apply(std::move(fx));
      return;
    }
    keep = runs_.at(n->run);
    entry = tasks_.at(n->def->sig.name);  // validated at submission; never unregistered
    n->queued = false;
    n->running = true;
    n->view->attempts.fetch_add(1, std::memory_order_relaxed);  // a counter (snapshot)
    mark_started_locked(*n);
    run_ctx = n->run->ctx;
  }

  value result;
  std::exception_ptr error;
  if (m.options.timeout.count() > 0) {
    auto tc = with_timeout(run_ctx, m.options.timeout);
    struct release {
      const cancel_func& cancel;
      ~release() { cancel(); }  // also when fiber_cancelled unwinds
    } guard{tc.second};
    error = call_task(*entry, tc.first, m.args, result);
    if (tc.first.err() == context_error::deadline_exceeded && run_ctx.err() == context_error::none)
      error = std::make_exception_ptr(task_timeout_error("goro::workflow: task '" + m.name + "' timed out"));
  } else {
    error = call_task(*entry, run_ctx, m.args, result);
  }

  effects fx;
  {
    std::lock_guard<goro::mutex> lk(mu_);
    n->running = false;
    if (n->settled) {
      // Cancelled while it ran: what it returned is dropped.
    } else if (n->run->ctx.err() != context_error::none) {
      cancel_run_locked(*n->run, fx);
    } else if (!error) {
      settle_locked(*n, outcome{std::move(result), nullptr}, fx);
    } else if (retryable(error) && m.attempt < m.options.retry.max_retries) {
      task_message again = m;
      again.attempt++;
      again.eta = std::chrono::system_clock::now() +
                  std::chrono::ceil<std::chrono::system_clock::duration>(backoff_locked(m.options.retry, m.attempt));
      n->next_attempt = again.attempt;
      n->queued = true;
      n->view->state.store(task_state::retry, std::memory_order_release);
      fx.publish.push_back(std::move(again));
    } else {
      settle_locked(*n, outcome{value(), error}, fx);
    }
  }
  apply(std::move(fx));
}

void engine_state::on_run_done(run_rec& run) {
  effects fx;
  {
    std::lock_guard<goro::mutex> lk(mu_);
    cancel_run_locked(run, fx);
  }
  apply(std::move(fx));
}

void engine_state::apply(effects fx) {
  while (!fx.empty()) {
    for (const std::string& id : fx.revoke) broker_->revoke(id);
    std::vector<std::string> sent;
    std::vector<std::pair<std::string, std::exception_ptr>> failed;
    for (task_message& m : fx.publish) {
      std::string id = m.id;
      try {
        broker_->publish(std::move(m));
        sent.push_back(std::move(id));
      } catch (const fiber_cancelled&) {
        throw;
      } catch (...) {
        failed.emplace_back(std::move(id), std::current_exception());
      }
    }
    for (const auto& r : fx.ended) r->cancel();  // releases the run's context; its watcher ends
    effects more;
    if (!sent.empty() || !failed.empty()) {
      std::lock_guard<goro::mutex> lk(mu_);
      // A task settled (cancelled) while its message was on the way: its
      // revoke may have reached the broker first.
      for (std::string& id : sent)
        if (live_.count(id) == 0) more.revoke.push_back(std::move(id));
      for (auto& [id, e] : failed) {
        auto it = live_.find(id);
        if (it == live_.end()) continue;
        exec_node& n = *it->second;
        n.queued = false;
        settle_locked(n, outcome{value(), e}, more);
      }
    }
    fx = std::move(more);  // the ended runs are released here, outside mu_
  }
}

void engine_state::validate_locked(const flow_node& n, bool has_input) {
  switch (n.kind) {
    case flow_kind::task: {
      const signature& s = n.sig;
      auto it = tasks_.find(s.name);
      if (it == tasks_.end()) throw workflow_error("goro::workflow: unknown task '" + s.name + "'");
      check_options(s);
      const bool takes_input = has_input && !s.options.immutable;
      const std::size_t given = s.args.size() + (takes_input ? 1 : 0);
      if (given != it->second->arity) {
        throw workflow_error("goro::workflow: task '" + s.name + "' takes " + std::to_string(it->second->arity) +
                             " argument(s), its signature gives " + std::to_string(s.args.size()) +
                             (takes_input ? " plus the result it receives" : ""));
      }
      it->second->check(s.args);
      break;
    }
    case flow_kind::chain:
      for (std::size_t i = 0; i < n.parts.size(); i++) validate_locked(*n.parts[i], i == 0 ? has_input : true);
      break;
    case flow_kind::group:
      for (const auto& p : n.parts) validate_locked(*p, has_input);
      break;
    case flow_kind::chord:
      validate_locked(*n.parts[0], has_input);
      validate_locked(*n.parts[1], true);
      if (n.has_on_error) validate_locked(*n.parts[2], true);
      break;
  }
}

std::unique_ptr<exec_node> engine_state::build_locked(const flow_node& def, run_rec& run, exec_node* parent,
                                                      std::size_t index) {
  auto n = std::make_unique<exec_node>();
  n->def = &def;
  n->run = &run;
  n->parent = parent;
  n->index = index;
  auto v = std::make_shared<result_state>();
  v->id = id_prefix_ + std::to_string(++next_id_);
  v->name = def.kind == flow_kind::task ? def.sig.name : kind_name(def.kind);
  v->future = n->result.get_future().share();
  for (std::size_t i = 0; i < def.parts.size(); i++) {
    n->parts.push_back(build_locked(*def.parts[i], run, n.get(), i));
    v->children.push_back(engine_state_access::make(n->parts.back()->view));
  }
  if (def.kind == flow_kind::group) {
    n->errors.resize(def.parts.size());
    n->results.resize(def.parts.size());
  }
  n->view = std::move(v);
  return n;
}

void engine_state::start_locked(exec_node& n, const value& input, bool has_input, effects& fx) {
  switch (n.def->kind) {
    case flow_kind::task: {
      const signature& s = n.def->sig;
      task_message m{.id = n.view->id, .name = s.name, .args = s.args, .options = s.options, .attempt = 0, .eta = {}};
      if (has_input && !s.options.immutable) m.args.push_back(input);
      auto due = std::chrono::system_clock::now() + std::chrono::ceil<std::chrono::system_clock::duration>(s.options.delay);
      if (s.options.eta && *s.options.eta > due) due = *s.options.eta;
      m.eta = due;
      n.queued = true;
      n.next_attempt = 0;
      live_.emplace(m.id, &n);
      fx.publish.push_back(std::move(m));
      break;
    }
    case flow_kind::chain:
    case flow_kind::chord:
      start_locked(*n.parts[0], input, has_input, fx);
      break;
    case flow_kind::group:
      n.input = input;
      n.has_input = has_input;
      if (n.parts.empty()) {
        settle_locked(n, outcome{value(value::list{}), nullptr}, fx);
      } else {
        launch_members_locked(n, fx);
      }
      break;
  }
}

void engine_state::launch_members_locked(exec_node& g, effects& fx) {
  const std::size_t limit = g.def->limit;
  // A member may settle as it starts (an empty group), re-entering
  // part_done_locked for g; the loop re-reads g's counters each time.
  while (!g.settled && g.next < g.parts.size() && (limit == 0 || g.active < limit)) {
    exec_node& m = *g.parts[g.next++];
    g.active++;
    start_locked(m, g.input, g.has_input, fx);
  }
}

void engine_state::settle_locked(exec_node& n, outcome o, effects& fx) {
  if (n.settled) return;
  finalize_locked(n, o.error ? task_state::failure : task_state::success, o, fx);
  if (n.parent) {
    part_done_locked(*n.parent, n.index, o, fx);
  } else {
    end_run_locked(*n.run, fx);
  }
}

void engine_state::finalize_locked(exec_node& n, task_state s, const outcome& o, effects& fx) {
  n.settled = true;
  if (n.def->kind == flow_kind::task) {
    live_.erase(n.view->id);
    if (n.queued) {
      fx.revoke.push_back(n.view->id);
      n.queued = false;
    }
  }
  // The state before the result: whoever get() returned to sees it final.
  n.view->state.store(s, std::memory_order_release);
  if (o.error) {
    n.result.set_exception(o.error);
  } else {
    n.result.set_value(o.v);
  }
}

void engine_state::part_done_locked(exec_node& p, std::size_t i, const outcome& o, effects& fx) {
  switch (p.def->kind) {
    case flow_kind::task:
      break;  // a task has no parts
    case flow_kind::chain:
      if (!o.error && i + 1 < p.parts.size()) {
        start_locked(*p.parts[i + 1], o.v, true, fx);
        return;
      }
      if (o.error) {
        auto why = std::make_exception_ptr(skipped_error("goro::workflow: skipped: an earlier step of the chain failed: " +
                                                         describe(o.error)));
        for (std::size_t j = i + 1; j < p.parts.size(); j++) skip_locked(*p.parts[j], why, fx);
      }
      settle_locked(p, o, fx);
      break;
    case flow_kind::group:
      p.results[i] = o.v;
      p.errors[i] = o.error;
      p.active--;
      p.finished++;
      launch_members_locked(p, fx);
      if (p.finished == p.parts.size()) {
        outcome all;
        for (const auto& e : p.errors) {
          if (e) {
            all.error = e;  // the lowest-numbered failed member's
            break;
          }
        }
        if (!all.error) all.v = value(p.results);
        settle_locked(p, std::move(all), fx);
      }
      break;
    case flow_kind::chord: {
      exec_node& g = *p.parts[0];
      if (i == 0 && (!o.error || p.def->all_settled)) {
        if (p.def->has_on_error) {
          skip_locked(*p.parts[2],
                      std::make_exception_ptr(skipped_error("goro::workflow: skipped: no member of the chord failed")),
                      fx);
        }
        value::list every;
        every.reserve(g.parts.size());
        for (std::size_t k = 0; k < g.parts.size(); k++)
          every.push_back(g.errors[k] ? value::make_error(g.errors[k]) : g.results[k]);
        start_locked(*p.parts[1], value(std::move(every)), true, fx);
      } else if (i == 0) {
        skip_locked(*p.parts[1],
                    std::make_exception_ptr(skipped_error("goro::workflow: skipped: a member of the chord failed: " +
                                                          describe(o.error))),
                    fx);
        if (p.def->has_on_error) {
          start_locked(*p.parts[2], value::make_error(o.error), true, fx);
        } else {
          settle_locked(p, o, fx);
        }
      } else if (i == 1) {
        settle_locked(p, o, fx);  // the callback's outcome is the chord's
      } else {
        // on_error has run: the chord fails with the member's error (the
        // group's, which is the lowest-numbered failed member's).
        std::exception_ptr member;
        for (const auto& e : g.errors) {
          if (e) {
            member = e;
            break;
          }
        }
        settle_locked(p, outcome{value(), member}, fx);
      }
      break;
    }
  }
}

void engine_state::skip_locked(exec_node& n, const std::exception_ptr& why, effects& fx) {
  if (n.settled) return;
  for (auto& part : n.parts) skip_locked(*part, why, fx);
  finalize_locked(n, task_state::skipped, outcome{value(), why}, fx);
}

void engine_state::cancel_run_locked(run_rec& run, effects& fx) {
  if (!run.live) return;
  const context_error err = run.ctx.err();
  auto why = std::make_exception_ptr(err == context_error::none
                                         ? context_done_error(context_error::canceled, "goro::workflow: run cancelled")
                                         : context_done_error(err, run.ctx.cause()));
  cancel_tree_locked(*run.root, why, fx);
  end_run_locked(run, fx);
}

void engine_state::cancel_tree_locked(exec_node& n, const std::exception_ptr& why, effects& fx) {
  if (n.settled) return;
  for (auto& part : n.parts) cancel_tree_locked(*part, why, fx);
  finalize_locked(n, task_state::cancelled, outcome{value(), why}, fx);
}

void engine_state::end_run_locked(run_rec& run, effects& fx) {
  run.live = false;
  auto it = runs_.find(&run);
  fx.ended.push_back(std::move(it->second));
  runs_.erase(it);
}

void engine_state::mark_started_locked(exec_node& n) {
  n.view->state.store(task_state::started, std::memory_order_release);
  for (exec_node* p = n.parent; p; p = p->parent) {
    // relaxed: under mu_, where every store to it is made.
    if (p->view->state.load(std::memory_order_relaxed) != task_state::pending) break;
    p->view->state.store(task_state::started, std::memory_order_release);
  }
}

std::chrono::nanoseconds engine_state::backoff_locked(const retry_policy& p, int retry) {
  double ns = static_cast<double>(p.backoff.count()) * std::pow(p.multiplier, retry);
  const double cap = static_cast<double>(std::min(p.max_backoff, longest_wait).count());
  if (!(ns < cap)) ns = cap;  // also an infinite product
  if (p.jitter > 0) ns *= 1.0 - p.jitter * std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
}

}  // namespace detail
}  // namespace goro::workflow
