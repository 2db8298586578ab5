// goro::context (context.hpp).
//
// A context is a shared ctx_node. Cancelable nodes (with_cancel,
// with_deadline) own a done channel, an error, a cause and an intrusive
// list of cancelable children; value nodes only point up. Every node knows
// its nearest cancelable ancestor (`owner`), which answers done()/err() for
// value nodes and is the parent a cancelable child links under.
//
// Locking: each cancelable node has a spinlock. Cancelling takes the node's
// lock, marks it, closes done, and cancels the children while still holding
// it (parent lock, then child lock: never the other way round). A child
// that is cancelled on its own unlinks itself afterwards, taking only the
// parent's lock. A child's destructor also unlinks itself under the
// parent's lock, so a parent cancelling its children never sees a
// destroyed one.
#include "goro/context.hpp"

#include "context/inspect.hpp"

#include <atomic>
#include <mutex>
#include <stdexcept>

#include "goro/detail/spinlock.hpp"
#include "goro/detail/thread_role.hpp"
#include "goro/go.hpp"
#include "goro/select.hpp"
#include "goro/time.hpp"

namespace goro {

const char* to_string(context_error e) noexcept {
  switch (e) {
    case context_error::none: return "";
    case context_error::canceled: return "context canceled";
    case context_error::deadline_exceeded: return "context deadline exceeded";
  }
  return "?";
}

namespace detail {

struct ctx_node {
  std::shared_ptr<ctx_node> parent;  // keeps the chain (and `owner`) alive
  ctx_node* owner = nullptr;         // nearest cancelable ancestor-or-self, or null
  bool cancelable = false;
  std::int64_t deadline_ns = 0;      // 0: none (inherited by children)

  // Value nodes.
  const void* key = nullptr;
  std::shared_ptr<void> value;

  // Cancelable nodes. err is atomic so err() needs no lock (acquire: once
  // it reads non-none, the cause and the closed channel are visible).
  spinlock mu;
  std::atomic<context_error> err{context_error::none};
  std::string cause;                 // under mu, fixed once err is set
  chan<std::monostate> done{nullptr};
  ctx_node* first_child = nullptr;   // cancelable children, under mu
  ctx_node* prev_sib = nullptr;      // links in owner-of-parent's list, under that node's mu
  ctx_node* next_sib = nullptr;
  bool linked = false;
  ctx_node* link_parent = nullptr;   // whose list we are in (the parent's owner)

  ~ctx_node() {
    if (link_parent != nullptr) {
      std::lock_guard<spinlock> l(link_parent->mu);
      unlink_locked();
    }
  }

  void unlink_locked() noexcept {  // link_parent->mu held
    if (!linked) return;
    if (prev_sib) prev_sib->next_sib = next_sib; else link_parent->first_child = next_sib;
    if (next_sib) next_sib->prev_sib = prev_sib;
    prev_sib = next_sib = nullptr;
    linked = false;
  }

  // How many cancelable children are linked under ctx's owner.
  static std::size_t children_of(const context& ctx) noexcept {
    ctx_node* o = ctx.n_ ? ctx.n_->owner : nullptr;
    if (o == nullptr) return 0;
    std::lock_guard<spinlock> l(o->mu);
    std::size_t k = 0;
    for (ctx_node* c = o->first_child; c; c = c->next_sib) k++;
    return k;
  }

  // Cancel this node and its descendants. `detach`: also leave the parent's
  // list (not when the parent is the one cancelling: it holds its lock and
  // clears its list itself).
  void cancel(context_error e, const std::string& why, bool detach) {
    {
      std::lock_guard<spinlock> l(mu);
      if (err.load(std::memory_order_relaxed) != context_error::none) return;
      cause = why.empty() ? to_string(e) : why;
      err.store(e, std::memory_order_release);
      done.close();
      // Children: cancel each (their locks nest inside ours), then forget them.
      for (ctx_node* c = first_child; c;) {
        ctx_node* next = c->next_sib;
        c->prev_sib = c->next_sib = nullptr;
        c->linked = false;
        c->cancel(e, why, false);
        c = next;
      }
      first_child = nullptr;
    }
    if (detach && link_parent != nullptr) {
      std::lock_guard<spinlock> l(link_parent->mu);
      unlink_locked();
    }
  }
};

// A new cancelable node under `parent`: linked into the parent's owner, or
// cancelled at once if that is done already.
std::shared_ptr<ctx_node> new_cancelable(const std::shared_ptr<ctx_node>& parent) {
  auto n = std::make_shared<ctx_node>();
  n->parent = parent;
  n->owner = n.get();
  n->cancelable = true;
  n->deadline_ns = parent ? parent->deadline_ns : 0;
  n->done = chan<std::monostate>(0);
  ctx_node* up = parent ? parent->owner : nullptr;
  if (up != nullptr) {
    std::unique_lock<spinlock> l(up->mu);
    const context_error pe = up->err.load(std::memory_order_relaxed);
    if (pe != context_error::none) {
      const std::string why = up->cause;
      l.unlock();
      n->cancel(pe, why, false);  // a child of a cancelled parent starts cancelled
    } else {
      n->link_parent = up;
      n->next_sib = up->first_child;
      if (up->first_child) up->first_child->prev_sib = n.get();
      up->first_child = n.get();
      n->linked = true;
    }
  }
  return n;
}

}  // namespace detail

chan<std::monostate> context::done() const {
  detail::ctx_node* o = n_ ? n_->owner : nullptr;
  return o ? o->done : chan<std::monostate>(nullptr);
}

context_error context::err() const noexcept {
  detail::ctx_node* o = n_ ? n_->owner : nullptr;
  return o ? o->err.load(std::memory_order_acquire) : context_error::none;
}

void throw_if_done(const context& ctx) {
  const context_error e = ctx.err();
  if (e != context_error::none) throw context_done_error(e, ctx.cause());
}

std::string context::cause() const {
  detail::ctx_node* o = n_ ? n_->owner : nullptr;
  if (o == nullptr || o->err.load(std::memory_order_acquire) == context_error::none) return {};
  std::lock_guard<detail::spinlock> l(o->mu);
  return o->cause;
}

std::optional<std::chrono::steady_clock::time_point> context::deadline() const noexcept {
  if (!n_ || n_->deadline_ns == 0) return std::nullopt;
  return detail::from_ns(n_->deadline_ns);
}

const void* context::lookup(const void* key) const noexcept {
  for (const detail::ctx_node* n = n_.get(); n; n = n->parent.get())
    if (n->key == key) return n->value.get();
  return nullptr;
}

context context::value_context(const context& parent, const void* key, std::shared_ptr<void> v) {
  auto n = std::make_shared<detail::ctx_node>();
  n->parent = parent.n_;
  n->owner = parent.n_ ? parent.n_->owner : nullptr;
  n->deadline_ns = parent.n_ ? parent.n_->deadline_ns : 0;
  n->key = key;
  n->value = std::move(v);
  return context(std::move(n));
}

void cancel_func::operator()() const { operator()(std::string()); }

void cancel_func::operator()(std::string cause) const {
  goro::detail::note_thread_use();  // a cancel from a thread may wake fibers
  if (n_) n_->cancel(context_error::canceled, cause, true);
}

std::pair<context, cancel_func> with_cancel(const context& parent) {
  auto n = detail::new_cancelable(parent.n_);
  return {context(n), cancel_func(n)};
}

std::pair<context, cancel_func> with_deadline(const context& parent, std::chrono::steady_clock::time_point d) {
  const std::int64_t when = detail::to_ns(d);
  if (parent.n_ && parent.n_->deadline_ns != 0 && parent.n_->deadline_ns <= when)
    return with_cancel(parent);  // the parent's deadline comes first
  auto n = detail::new_cancelable(parent.n_);
  n->deadline_ns = when;
  if (n->err.load(std::memory_order_acquire) == context_error::none) {
    if (when <= detail::now_ns()) {
      n->cancel(context_error::deadline_exceeded, {}, true);
    } else {
      // A fiber waits for the deadline or for an earlier cancellation.
      goro::go([n] {
        goro::timer t(detail::from_ns(n->deadline_ns) - std::chrono::steady_clock::now());
        bool expired = false;
        goro::select(goro::on_recv(t.channel(), [&] { expired = true; }), goro::on_recv(n->done));
        if (expired) n->cancel(context_error::deadline_exceeded, {}, true);
      });
    }
  }
  return {context(n), cancel_func(n)};
}

struct after_func_handle::state {
  std::atomic<int> st{0};  // 0 waiting, 1 started, 2 stopped
  chan<std::monostate> stop{0};
};

bool after_func_handle::stop() {
  if (!s_) return false;
  int waiting = 0;
  // acq_rel: one of stop() and the fiber wins.
  if (!s_->st.compare_exchange_strong(waiting, 2, std::memory_order_acq_rel)) return false;
  s_->stop.close();  // the waiting fiber leaves
  return true;
}

after_func_handle after_func(const context& ctx, std::function<void()> fn) {
  auto s = std::make_shared<after_func_handle::state>();
  goro::go([s, done = ctx.done(), fn = std::move(fn)]() mutable {
    goro::select(goro::on_recv(done), goro::on_recv(s->stop));
    int waiting = 0;
    if (s->st.compare_exchange_strong(waiting, 1, std::memory_order_acq_rel)) fn();
  });
  return after_func_handle(std::move(s));
}

}  // namespace goro

namespace goro::rt {

std::size_t context_children(const context& ctx) noexcept { return detail::ctx_node::children_of(ctx); }

}  // namespace goro::rt
