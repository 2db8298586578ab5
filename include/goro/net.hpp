// goro::net: TCP (IPv4 and IPv6) and Unix domain stream sockets with
// blocking-style calls on the runtime's poller (Go's net package). One fiber
// per connection, plain sequential code:
//
//   auto ln = goro::net::listen("tcp", "127.0.0.1:8080");
//   for (;;) {
//     goro::net::conn c = ln.accept();
//     goro::go([c]() mutable {
//       char buf[4096];
//       while (std::size_t n = c.read(buf, sizeof buf)) c.write(buf, n);
//     });
//   }
//
// Reads, writes, deadlines, errors and closing are goro::io::stream's (see
// goro/io.hpp). What no peer has: every blocking call also takes a
// goro::context, and cancelling it ends the wait with errc::canceled (or
// errc::deadline_exceeded), whatever the descriptor's deadlines say.
//
// Networks and addresses (as Go's):
//   "tcp", "tcp4", "tcp6"   "host:port", "[v6addr]:port", ":port" (every
//                           address); host may be a name, resolved with
//                           getaddrinfo inside goro::blocking
//   "unix"                  a filesystem path ("@name": the abstract
//                           namespace)
// Defaults as Go's: TCP_NODELAY on connections, SO_REUSEADDR on TCP
// listeners, the backlog from /proc/sys/net/core/somaxconn, descriptors
// non-blocking and close-on-exec (accept4).
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "goro/context.hpp"
#include "goro/io.hpp"

namespace goro::net {
class conn;
class listener;
}  // namespace goro::net

namespace goro::detail {
// runtime/net/net.cpp
net::listener listen_impl(std::string_view network, std::string_view addr, std::error_code& ec);
net::conn dial_impl(std::string_view network, std::string_view addr, std::int64_t deadline, const context* ctx,
                    std::error_code& ec);
}  // namespace goro::detail

namespace goro::net {

// A socket address: IPv4, IPv6 or Unix.
class address {
 public:
  address() noexcept = default;
  address(const sockaddr* sa, socklen_t len) noexcept;
  // "1.2.3.4:80", "[::1]:80", or the Unix path ("" for an unnamed socket).
  std::string to_string() const;
  int family() const noexcept { return len_ ? ss_.ss_family : AF_UNSPEC; }
  std::uint16_t port() const noexcept;  // 0 for Unix
  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&ss_); }
  socklen_t size() const noexcept { return len_; }

 private:
  sockaddr_storage ss_{};
  socklen_t len_ = 0;
};

// A connected stream socket.
class conn : public io::stream {
 public:
  conn() noexcept = default;
  // Shut down the writing half (the peer reads end of stream); reads go on.
  void shutdown_write();
  void shutdown_write(std::error_code& ec);
  const net::address& local_address() const noexcept { return local_; }
  const net::address& remote_address() const noexcept { return remote_; }

 private:
  friend class listener;
  friend conn detail::dial_impl(std::string_view, std::string_view, std::int64_t, const context*, std::error_code&);
  conn(std::shared_ptr<detail::fd_state> s, const net::address& local, const net::address& remote) noexcept
      : io::stream(std::move(s)), local_(local), remote_(remote) {}
  net::address local_, remote_;
};

// A listening socket. A shared handle, like conn; close() wakes fibers
// blocked in accept (errc::closed).
class listener {
 public:
  listener() noexcept = default;
  conn accept();
  conn accept(const context& ctx);
  conn accept(std::error_code& ec);
  conn accept(const context& ctx, std::error_code& ec);
  const net::address& address() const noexcept { return addr_; }
  void close() { s_.close(); }
  void close(std::error_code& ec) { s_.close(ec); }
  // Deadline for accept (errc::timeout), as a stream's.
  void set_deadline(std::chrono::steady_clock::time_point t) { s_.set_read_deadline(t); }
  int native_handle() const noexcept { return s_.native_handle(); }
  explicit operator bool() const noexcept { return static_cast<bool>(s_); }

 private:
  friend listener detail::listen_impl(std::string_view, std::string_view, std::error_code&);
  struct sock : io::stream {
    sock() noexcept = default;
    explicit sock(std::shared_ptr<detail::fd_state> s) noexcept : io::stream(std::move(s)) {}
    detail::fd_state* get() const noexcept { return s_.get(); }
  };
  listener(sock s, const net::address& a) noexcept : s_(std::move(s)), addr_(a) {}
  sock s_;
  net::address addr_;
};

// Listen on a TCP address ("127.0.0.1:0": a free port; see address()) or a
// Unix path. Throws goro::io::io_error (or std::invalid_argument for an
// address it cannot parse).
inline listener listen(std::string_view network, std::string_view addr) {
  std::error_code ec;
  listener l = detail::listen_impl(network, addr, ec);
  detail::io_check(ec, "goro::net::listen");
  return l;
}
inline listener listen(std::string_view network, std::string_view addr, std::error_code& ec) {
  return detail::listen_impl(network, addr, ec);
}

// Connect. With a timeout, or a context, the connection attempt gives up
// with errc::timeout / the context's error. (Name resolution, getaddrinfo
// inside goro::blocking, is not interrupted: a context cancelled meanwhile
// is seen once it returns.)
inline conn dial(std::string_view network, std::string_view addr) {
  std::error_code ec;
  conn c = detail::dial_impl(network, addr, 0, nullptr, ec);
  detail::io_check(ec, "goro::net::dial");
  return c;
}
template <class Rep, class Period>
conn dial(std::string_view network, std::string_view addr, std::chrono::duration<Rep, Period> timeout) {
  std::error_code ec;
  conn c = detail::dial_impl(network, addr, detail::deadline_ns(timeout), nullptr, ec);
  detail::io_check(ec, "goro::net::dial");
  return c;
}
inline conn dial(std::string_view network, std::string_view addr, const context& ctx) {
  std::error_code ec;
  conn c = detail::dial_impl(network, addr, 0, &ctx, ec);
  detail::io_check(ec, "goro::net::dial");
  return c;
}
inline conn dial(std::string_view network, std::string_view addr, std::error_code& ec) {
  return detail::dial_impl(network, addr, 0, nullptr, ec);
}
inline conn dial(std::string_view network, std::string_view addr, const context& ctx, std::error_code& ec) {
  return detail::dial_impl(network, addr, 0, &ctx, ec);
}

}  // namespace goro::net
