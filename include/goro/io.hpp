// goro::io: blocking-style I/O on descriptors the runtime polls (epoll,
// edge-triggered; see docs/design.md, "Network poller"). An operation that
// would block parks the calling fiber until the descriptor is ready; its
// thread runs other fibers meanwhile. Called from a thread outside the
// runtime (or inside goro::blocking), it blocks that thread instead.
//
//   goro::io::file in(pipe_fds[0]);        // takes ownership; made non-blocking
//   char buf[4096];
//   std::size_t n = in.read(buf, sizeof buf);           // 0 at end of stream
//   in.set_read_deadline(std::chrono::steady_clock::now() + 1s);
//   n = in.read(buf, sizeof buf, ctx);                  // also ends when ctx is done
//
// Errors. Every operation comes in two forms: one throws goro::io::io_error
// (a std::system_error), the other takes a std::error_code& and does not
// throw for I/O errors. The codes tell the cases apart:
//   io::errc::eof               end of stream (the error_code read form;
//                               the throwing read returns 0 instead)
//   io::errc::unexpected_eof    read_full got less than asked
//   io::errc::timeout           a deadline set on the descriptor (or the
//                               call's timeout) passed
//   io::errc::canceled          the call's context was cancelled
//   io::errc::deadline_exceeded the call's context's deadline passed
//   io::errc::closed            the descriptor was closed (before or during
//                               the call)
//   std::errc::*                what the kernel said (connection_reset,
//                               broken_pipe, connection_refused, ...)
// goro::fiber_cancelled (the runtime unwinding leftover fibers) passes
// through both forms.
//
// Ownership and closing. A stream is a shared handle: copies refer to one
// descriptor, and the descriptor is closed by close() or when the last copy
// goes. close() wakes every party waiting on it (they get errc::closed) and
// returns once no operation uses the descriptor any more, so no read or
// write ever reaches a reused descriptor number. Reads on one stream are
// serialised, and so are writes; a read and a write may run at once.
//
// A stream belongs to the runtime that created it; using it after that
// runtime has ended fails with errc::closed (closing it still works, also
// from a thread outside the runtime while run() is returning).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <system_error>

#include "goro/context.hpp"
#include "goro/detail/clock.hpp"

namespace goro::io {

enum class errc {
  eof = 1,
  unexpected_eof,
  timeout,
  canceled,
  deadline_exceeded,
  closed,
};

const std::error_category& io_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), io_category()}; }

class io_error : public std::system_error {
 public:
  using std::system_error::system_error;
};

// A deadline that never passes (set_deadline(no_deadline) clears one).
inline constexpr std::chrono::steady_clock::time_point no_deadline = std::chrono::steady_clock::time_point::max();

}  // namespace goro::io

template <>
struct std::is_error_code_enum<goro::io::errc> : std::true_type {};

namespace goro::detail {

struct fd_state;  // runtime/net/fd.hpp

[[noreturn]] void io_throw(std::error_code ec, const char* what);
inline void io_check(const std::error_code& ec, const char* what) {
  if (ec) io_throw(ec, what);
}
inline std::int64_t io_deadline_ns(std::chrono::steady_clock::time_point t) noexcept {
  return t == goro::io::no_deadline ? 0 : to_ns(t);
}

// The operations (runtime/net/fd.cpp). A null s fails with errc::closed;
// ctx may be null; deadline 0: none.
std::shared_ptr<fd_state> fd_adopt(int fd);
std::size_t fd_read(fd_state* s, void* buf, std::size_t n, const context* ctx, std::error_code& ec);
std::size_t fd_read_full(fd_state* s, void* buf, std::size_t n, const context* ctx, std::error_code& ec);
std::size_t fd_write(fd_state* s, const void* buf, std::size_t n, const context* ctx, std::error_code& ec);
void fd_close(fd_state* s, std::error_code& ec);
void fd_set_deadline(fd_state* s, bool read, bool write, std::int64_t deadline);  // null s: errc::closed
int fd_native(const fd_state* s) noexcept;
void fd_wait(int fd, bool write, std::int64_t deadline, const context* ctx, std::error_code& ec);
inline void fd_wait_checked(int fd, bool write, std::int64_t deadline, const context* ctx) {
  std::error_code ec;
  fd_wait(fd, write, deadline, ctx, ec);
  io_check(ec, write ? "goro::io::wait_writable" : "goro::io::wait_readable");
}

}  // namespace goro::detail

namespace goro::io {

// A stream over a pollable descriptor: the operations goro::io::file and
// goro::net::conn share. Default-constructed: no descriptor (operations
// fail with errc::closed).
class stream {
 public:
  stream() noexcept = default;

  // Read up to n bytes, waiting until at least one is available. Returns
  // 0 at end of stream (the error_code form also sets errc::eof).
  std::size_t read(void* buf, std::size_t n) { return checked(&detail::fd_read, buf, n, nullptr, "goro::io::read"); }
  std::size_t read(void* buf, std::size_t n, const context& ctx) {
    return checked(&detail::fd_read, buf, n, &ctx, "goro::io::read");
  }
  std::size_t read(void* buf, std::size_t n, std::error_code& ec) { return detail::fd_read(s_.get(), buf, n, nullptr, ec); }
  std::size_t read(void* buf, std::size_t n, const context& ctx, std::error_code& ec) {
    return detail::fd_read(s_.get(), buf, n, &ctx, ec);
  }
  // Read exactly n bytes. If the stream ends first: errc::eof when it read
  // nothing, errc::unexpected_eof when it read some (the error_code form
  // returns how many).
  std::size_t read_full(void* buf, std::size_t n) {
    return checked(&detail::fd_read_full, buf, n, nullptr, "goro::io::read_full");
  }
  std::size_t read_full(void* buf, std::size_t n, const context& ctx) {
    return checked(&detail::fd_read_full, buf, n, &ctx, "goro::io::read_full");
  }
  std::size_t read_full(void* buf, std::size_t n, std::error_code& ec) {
    return detail::fd_read_full(s_.get(), buf, n, nullptr, ec);
  }
  std::size_t read_full(void* buf, std::size_t n, const context& ctx, std::error_code& ec) {
    return detail::fd_read_full(s_.get(), buf, n, &ctx, ec);
  }
  // Write all n bytes, waiting as needed. The error_code form returns how
  // many were written before the error.
  void write(const void* buf, std::size_t n) { write_checked(buf, n, nullptr); }
  void write(const void* buf, std::size_t n, const context& ctx) { write_checked(buf, n, &ctx); }
  std::size_t write(const void* buf, std::size_t n, std::error_code& ec) {
    return detail::fd_write(s_.get(), buf, n, nullptr, ec);
  }
  std::size_t write(const void* buf, std::size_t n, const context& ctx, std::error_code& ec) {
    return detail::fd_write(s_.get(), buf, n, &ctx, ec);
  }

  // Deadlines for the operations in progress and later ones (Go's
  // SetDeadline): an operation waiting past the deadline fails with
  // errc::timeout; a deadline in the past fails the next one at once.
  // Moving a deadline while an operation waits takes effect at once.
  // no_deadline clears it.
  void set_deadline(std::chrono::steady_clock::time_point t) { deadline(true, true, t); }
  void set_read_deadline(std::chrono::steady_clock::time_point t) { deadline(true, false, t); }
  void set_write_deadline(std::chrono::steady_clock::time_point t) { deadline(false, true, t); }

  // Close the descriptor (see the top of this file). Closing twice fails
  // with errc::closed.
  void close() {
    std::error_code ec;
    close(ec);
    detail::io_check(ec, "goro::io::close");
  }
  void close(std::error_code& ec) { detail::fd_close(s_.get(), ec); }

  // The descriptor, or -1 (for options; do not close it, or read or
  // write it behind the stream's back).
  int native_handle() const noexcept { return s_ ? detail::fd_native(s_.get()) : -1; }
  explicit operator bool() const noexcept { return s_ != nullptr; }

 protected:
  explicit stream(std::shared_ptr<detail::fd_state> s) noexcept : s_(std::move(s)) {}
  std::shared_ptr<detail::fd_state> s_;

 private:
  using read_fn = std::size_t (*)(detail::fd_state*, void*, std::size_t, const context*, std::error_code&);
  std::size_t checked(read_fn f, void* buf, std::size_t n, const context* ctx, const char* what) {
    std::error_code ec;
    const std::size_t got = f(s_.get(), buf, n, ctx, ec);
    if (ec && ec != errc::eof) detail::io_throw(ec, what);
    if (ec && f == &detail::fd_read_full) detail::io_throw(ec, what);
    return got;
  }
  void write_checked(const void* buf, std::size_t n, const context* ctx) {
    std::error_code ec;
    detail::fd_write(s_.get(), buf, n, ctx, ec);
    detail::io_check(ec, "goro::io::write");
  }
  void deadline(bool r, bool w, std::chrono::steady_clock::time_point t) {
    detail::fd_set_deadline(s_.get(), r, w, detail::io_deadline_ns(t));
  }
};

// A stream that owns a pollable descriptor (a pipe, a socket, a tty, an
// eventfd, ...; not a regular file, which epoll refuses: std::system_error
// with EPERM; the descriptor is then left open, still the caller's). The
// descriptor is made non-blocking. Writes to a socket
// never raise SIGPIPE (MSG_NOSIGNAL); a write to a pipe whose reader has
// gone does, as write(2) does, unless the program ignores SIGPIPE (Go's
// runtime ignores it; goro leaves signal dispositions to the program).
class file : public stream {
 public:
  file() noexcept = default;
  explicit file(int fd) : stream(detail::fd_adopt(fd)) {}
};

// Wait until a descriptor someone else owns (third-party non-blocking code)
// is readable / writable: registered for this one wait, so it must not be
// registered with goro already (use a stream for that). Returns at once if
// it is ready now.
inline void wait_readable(int fd) { detail::fd_wait_checked(fd, false, 0, nullptr); }
inline void wait_readable(int fd, std::chrono::steady_clock::time_point deadline) {
  detail::fd_wait_checked(fd, false, detail::io_deadline_ns(deadline), nullptr);
}
inline void wait_readable(int fd, const context& ctx) { detail::fd_wait_checked(fd, false, 0, &ctx); }
inline void wait_readable(int fd, std::error_code& ec) { detail::fd_wait(fd, false, 0, nullptr, ec); }
inline void wait_writable(int fd) { detail::fd_wait_checked(fd, true, 0, nullptr); }
inline void wait_writable(int fd, std::chrono::steady_clock::time_point deadline) {
  detail::fd_wait_checked(fd, true, detail::io_deadline_ns(deadline), nullptr);
}
inline void wait_writable(int fd, const context& ctx) { detail::fd_wait_checked(fd, true, 0, &ctx); }
inline void wait_writable(int fd, std::error_code& ec) { detail::fd_wait(fd, true, 0, nullptr, ec); }

}  // namespace goro::io
