// Reads, writes, waits and close on a descriptor (see fd.hpp and
// include/goro/io.hpp).
#include "net/fd.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <string>

#include "sched/caller.hpp"
#include "sched/runtime.hpp"

namespace goro::io {

namespace {

class io_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "goro.io"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::eof: return "end of stream";
      case errc::unexpected_eof: return "unexpected end of stream";
      case errc::timeout: return "i/o timeout";
      case errc::canceled: return "context canceled";
      case errc::deadline_exceeded: return "context deadline exceeded";
      case errc::closed: return "use of closed descriptor";
    }
    return "unknown goro.io error";
  }
};

}  // namespace

const std::error_category& io_category() noexcept {
  static const io_category_impl c;
  return c;
}

}  // namespace goro::io

namespace goro::detail {

using goro::io::errc;

void io_throw(std::error_code ec, const char* what) { throw goro::io::io_error(ec, what); }

fd_ref::fd_ref(fd_state* s) noexcept : s_(nullptr) {
  if (s == nullptr) return;
  std::uint32_t v = s->state.load(std::memory_order_relaxed);
  while ((v & fd_state::closing_bit) == 0) {
    // acquire: pairs with the release in ~fd_ref of the previous operation
    // (nothing to hand over but the count; kept symmetrical).
    if (s->state.compare_exchange_weak(v, v + 1, std::memory_order_acquire, std::memory_order_relaxed)) {
      s_ = s;
      return;
    }
  }
}

fd_ref::~fd_ref() {
  if (s_ == nullptr) return;
  // acq_rel: the operation's use of the descriptor happens before close
  // goes on to close it (close's acquire on the semaphore orders it too).
  if (s_->state.fetch_sub(1, std::memory_order_acq_rel) == (fd_state::closing_bit | 1)) s_->drained.release();
}

namespace {

// Deregister and close (every reference is gone, closing is set).
void destroy(fd_state* s) noexcept {
  if (s->pd) rt::pd_free(s->pd);
  s->pd = nullptr;
  if (s->fd >= 0) ::close(s->fd);
  s->fd = -1;
}

}  // namespace

fd_state::~fd_state() {
  // The last handle: no operation can be running (it would hold a handle).
  if ((state.load(std::memory_order_relaxed) & closing_bit) == 0) {
    if (pd) rt::pd_evict(pd);
    destroy(this);
  }
}

rt::runtime* calling_runtime(const char* who) {
  const rt::caller c = rt::classify();
  if (c.kind != rt::caller_kind::fiber && c.kind != rt::caller_kind::blocking)
    throw std::logic_error(std::string(who) + ": must be called from a fiber of a goro runtime");
  return c.m->rt;
}

std::shared_ptr<fd_state> fd_open(int fd, bool socket) { return fd_open(fd, socket, calling_runtime("goro::io")); }

std::shared_ptr<fd_state> fd_open(int fd, bool socket, rt::runtime* rt) {
  const int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || ((fl & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
    throw goro::io::io_error(std::error_code(errno, std::generic_category()), "goro::io: making a descriptor non-blocking");
  rt::poll_desc* pd = rt::pd_open(rt, fd);
  try {
    return std::make_shared<fd_state>(fd, socket, pd);
  } catch (...) {
    rt::pd_free(pd);
    throw;
  }
}

std::shared_ptr<fd_state> socket_open(int fd, rt::runtime* rt) {
  try {
    return rt ? fd_open(fd, true, rt) : fd_open(fd, true);
  } catch (...) {
    ::close(fd);
    throw;
  }
}

std::shared_ptr<fd_state> fd_adopt(int fd) {
  struct stat st{};
  if (fstat(fd, &st) != 0) throw goro::io::io_error(std::error_code(errno, std::generic_category()), "goro::io::file");
  return fd_open(fd, S_ISSOCK(st.st_mode));
}

std::error_code wait_error(rt::io_result r, const context* ctx) noexcept {
  switch (r) {
    case rt::io_result::ready: return {};
    case rt::io_result::closed: return errc::closed;
    case rt::io_result::timeout: return errc::timeout;
    case rt::io_result::canceled:
      return ctx && ctx->err() == context_error::deadline_exceeded ? errc::deadline_exceeded : errc::canceled;
  }
  return errc::closed;
}

chan_core* done_of(const context* ctx, chan<std::monostate>& holder) {
  if (ctx == nullptr) return nullptr;
  holder = ctx->done();
  return holder.core();
}

bool ctx_done(const context* ctx, std::error_code& ec) noexcept {
  if (ctx == nullptr) return false;
  switch (ctx->err()) {
    case context_error::none: return false;
    case context_error::canceled: ec = errc::canceled; return true;
    case context_error::deadline_exceeded: ec = errc::deadline_exceeded; return true;
  }
  return false;
}

bool fd_wait_ready(fd_state* s, rt::io_mode mode, std::int64_t deadline, const context* ctx, std::error_code& ec) {
  chan<std::monostate> holder{nullptr};
  const rt::io_result r = rt::pd_wait(s->pd, mode, deadline, done_of(ctx, holder));
  ec = wait_error(r, ctx);
  return r == rt::io_result::ready;
}

std::size_t fd_read(fd_state* s, void* buf, std::size_t n, const context* ctx, std::error_code& ec) {
  ec.clear();
  fd_ref ref(s);
  if (!ref.ok()) {
    ec = errc::closed;
    return 0;
  }
  std::lock_guard<goro::mutex> serial(s->rmu);
  if (ctx_done(ctx, ec)) return 0;
  if (const rt::io_result r = rt::pd_prepare(s->pd, rt::io_mode::read); r != rt::io_result::ready) {
    ec = wait_error(r, ctx);
    return 0;
  }
  if (n == 0) return 0;
  for (;;) {
    const ssize_t k = ::read(s->fd, buf, n);
    if (k > 0) return static_cast<std::size_t>(k);
    if (k == 0) {
      ec = errc::eof;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = std::error_code(errno, std::generic_category());
      return 0;
    }
    if (!fd_wait_ready(s, rt::io_mode::read, 0, ctx, ec)) return 0;
  }
}

std::size_t fd_read_full(fd_state* s, void* buf, std::size_t n, const context* ctx, std::error_code& ec) {
  ec.clear();
  std::size_t got = 0;
  auto* p = static_cast<char*>(buf);
  while (got < n) {
    got += fd_read(s, p + got, n - got, ctx, ec);
    if (ec) {
      if (ec == errc::eof && got > 0) ec = errc::unexpected_eof;
      return got;
    }
  }
  return got;
}

std::size_t fd_write(fd_state* s, const void* buf, std::size_t n, const context* ctx, std::error_code& ec) {
  ec.clear();
  fd_ref ref(s);
  if (!ref.ok()) {
    ec = errc::closed;
    return 0;
  }
  std::lock_guard<goro::mutex> serial(s->wmu);
  if (ctx_done(ctx, ec)) return 0;
  if (const rt::io_result r = rt::pd_prepare(s->pd, rt::io_mode::write); r != rt::io_result::ready) {
    ec = wait_error(r, ctx);
    return 0;
  }
  const auto* p = static_cast<const char*>(buf);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t k = s->socket ? ::send(s->fd, p + done, n - done, MSG_NOSIGNAL) : ::write(s->fd, p + done, n - done);
    if (k >= 0) {
      done += static_cast<std::size_t>(k);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = std::error_code(errno, std::generic_category());
      return done;
    }
    if (!fd_wait_ready(s, rt::io_mode::write, 0, ctx, ec)) return done;
  }
  return done;
}

void fd_close(fd_state* s, std::error_code& ec) {
  ec.clear();
  if (s == nullptr) {
    ec = errc::closed;
    return;
  }
  // acq_rel: orders the operations that ended before us; the drained
  // semaphore orders those that end after.
  const std::uint32_t old = s->state.fetch_or(fd_state::closing_bit, std::memory_order_acq_rel);
  if (old & fd_state::closing_bit) {
    ec = errc::closed;
    return;
  }
  rt::pd_evict(s->pd);  // waiting operations return errc::closed
  if ((old & ~fd_state::closing_bit) != 0) s->drained.acquire();
  destroy(s);
}

void fd_set_deadline(fd_state* s, bool read, bool write, std::int64_t deadline) {
  // A reference, as any operation: close cannot retire the record (which
  // another descriptor may reuse at once) while we use it.
  fd_ref ref(s);
  if (!ref.ok()) io_throw(errc::closed, "goro::io::set_deadline");
  rt::pd_set_deadline(s->pd, read, write, deadline);
}

int fd_native(const fd_state* s) noexcept { return s ? s->fd : -1; }

void fd_wait(int fd, bool write, std::int64_t deadline, const context* ctx, std::error_code& ec) {
  ec.clear();
  rt::runtime* rt = calling_runtime(write ? "goro::io::wait_writable" : "goro::io::wait_readable");
  if (ctx_done(ctx, ec)) return;
  rt::poll_desc* pd;
  try {
    pd = rt::pd_open(rt, fd);
  } catch (const std::system_error& e) {
    ec = e.code();
    return;
  }
  struct freer {
    rt::poll_desc* pd;
    ~freer() { rt::pd_free(pd); }
  } f{pd};
  chan<std::monostate> holder{nullptr};
  ec = wait_error(rt::pd_wait(pd, write ? rt::io_mode::write : rt::io_mode::read, deadline, done_of(ctx, holder)), ctx);
}

}  // namespace goro::detail
