// goro::net (include/goro/net.hpp): addresses, listen, accept, dial.
#include <goro/blocking.hpp>
#include <goro/net.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/fd.hpp"

namespace goro::net {

using goro::io::errc;

namespace {

enum class family_want { any, v4, v6, unix_path };

family_want parse_network(std::string_view network) {
  if (network == "tcp") return family_want::any;
  if (network == "tcp4") return family_want::v4;
  if (network == "tcp6") return family_want::v6;
  if (network == "unix") return family_want::unix_path;
  throw std::invalid_argument("goro::net: unknown network \"" + std::string(network) +
                              "\" (tcp, tcp4, tcp6 or unix)");
}

std::error_code sys_error(int e = errno) noexcept { return {e, std::generic_category()}; }

address unix_address(std::string_view path) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof un.sun_path)
    throw std::invalid_argument("goro::net: bad unix socket path \"" + std::string(path) + "\"");
  std::memcpy(un.sun_path, path.data(), path.size());
  if (path[0] == '@') un.sun_path[0] = '\0';  // the abstract namespace
  return address(reinterpret_cast<sockaddr*>(&un),
                 static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1)));
}

address ipv4(in_addr a, std::uint16_t port) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  in.sin_addr = a;
  return address(reinterpret_cast<sockaddr*>(&in), sizeof in);
}

address ipv6(const in6_addr& a, std::uint16_t port) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  in6.sin6_addr = a;
  return address(reinterpret_cast<sockaddr*>(&in6), sizeof in6);
}

// "host:port" -> host, port. The host of an IPv6 literal is in brackets.
void split_host_port(std::string_view addr, std::string& host, std::uint16_t& port) {
  const auto colon = addr.rfind(':');
  if (colon == std::string_view::npos)
    throw std::invalid_argument("goro::net: missing port in address \"" + std::string(addr) + "\"");
  std::string_view h = addr.substr(0, colon);
  const std::string_view p = addr.substr(colon + 1);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string_view::npos) {
    throw std::invalid_argument("goro::net: IPv6 address without brackets in \"" + std::string(addr) + "\"");
  }
  unsigned long v = 0;
  if (p.empty() || p.size() > 5) throw std::invalid_argument("goro::net: bad port in \"" + std::string(addr) + "\"");
  for (char c : p) {
    if (c < '0' || c > '9') throw std::invalid_argument("goro::net: bad port in \"" + std::string(addr) + "\"");
    v = v * 10 + static_cast<unsigned long>(c - '0');
  }
  if (v > 65535) throw std::invalid_argument("goro::net: port out of range in \"" + std::string(addr) + "\"");
  host.assign(h);
  port = static_cast<std::uint16_t>(v);
}

// The addresses for network/addr, in the order to try them. Names go
// through getaddrinfo inside goro::blocking (it blocks its thread).
std::vector<address> resolve(family_want want, std::string_view addr, bool passive, std::error_code& ec) {
  std::vector<address> out;
  if (want == family_want::unix_path) {
    out.push_back(unix_address(addr));
    return out;
  }
  std::string host;
  std::uint16_t port;
  split_host_port(addr, host, port);
  if (host.empty()) {
    // Every address (listen), or the local host (dial), as Go does.
    if (want == family_want::v4 || (!passive && want == family_want::any)) {
      in_addr a{};
      a.s_addr = htonl(passive ? INADDR_ANY : INADDR_LOOPBACK);
      out.push_back(ipv4(a, port));
    } else {
      out.push_back(ipv6(passive ? in6addr_any : in6addr_loopback, port));
    }
    return out;
  }
  // A literal address of the other family than the network's is an error.
  in_addr a4{};
  in6_addr a6{};
  const bool is4 = inet_pton(AF_INET, host.c_str(), &a4) == 1;
  const bool is6 = !is4 && inet_pton(AF_INET6, host.c_str(), &a6) == 1;
  if (is4 || is6) {
    if ((is4 && want == family_want::v6) || (is6 && want == family_want::v4))
      ec = std::make_error_code(std::errc::address_family_not_supported);
    else
      out.push_back(is4 ? ipv4(a4, port) : ipv6(a6, port));
    return out;
  }
  addrinfo hints{};
  hints.ai_family = want == family_want::v4 ? AF_INET : want == family_want::v6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  int err = 0;  // errno read on the thread that made the call
  const int rc = goro::blocking([&] {
    const int r = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
    err = errno;
    return r;
  });
  if (rc != 0) {
    ec = rc == EAI_SYSTEM ? sys_error(err) : std::make_error_code(std::errc::host_unreachable);
    return out;
  }
  for (addrinfo* a = res; a; a = a->ai_next) out.emplace_back(a->ai_addr, a->ai_addrlen);
  freeaddrinfo(res);
  if (out.empty()) ec = std::make_error_code(std::errc::host_unreachable);
  return out;
}

int somaxconn() {
  static const int n = [] {
    int v = SOMAXCONN;
    if (FILE* f = std::fopen("/proc/sys/net/core/somaxconn", "r")) {
      if (std::fscanf(f, "%d", &v) != 1 || v <= 0) v = SOMAXCONN;
      std::fclose(f);
    }
    return v;
  }();
  return n;
}

void set_nodelay(int fd, int family) {
  if (family != AF_INET && family != AF_INET6) return;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

address sock_name(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                      : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc != 0) return address();
  return address(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace

address::address(const sockaddr* sa, socklen_t len) noexcept {
  if (len > sizeof ss_) len = sizeof ss_;
  std::memcpy(&ss_, sa, len);
  len_ = len;
}

std::uint16_t address::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss_)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss_)->sin6_port);
  return 0;
}

std::string address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  switch (family()) {
    case AF_INET:
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss_)->sin_addr, buf, sizeof buf);
      return std::string(buf) + ":" + std::to_string(port());
    case AF_INET6:
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss_)->sin6_addr, buf, sizeof buf);
      return "[" + std::string(buf) + "]:" + std::to_string(port());
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(&ss_);
      const std::size_t n = len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
      if (n == 0) return "";
      if (un->sun_path[0] == '\0') return "@" + std::string(un->sun_path + 1, n - 1);
      return std::string(un->sun_path, strnlen(un->sun_path, n));
    }
    default:
      return "";
  }
}

conn listener::accept() {
  std::error_code ec;
  conn c = accept(ec);
  detail::io_check(ec, "goro::net::accept");
  return c;
}
conn listener::accept(const context& ctx) {
  std::error_code ec;
  conn c = accept(ctx, ec);
  detail::io_check(ec, "goro::net::accept");
  return c;
}
conn listener::accept(std::error_code& ec) { return accept(goro::background(), ec); }

conn listener::accept(const context& ctx, std::error_code& ec) {
  ec.clear();
  detail::fd_state* s = s_.get();
  detail::fd_ref ref(s);
  if (!ref.ok()) {
    ec = errc::closed;
    return {};
  }
  std::lock_guard<goro::mutex> serial(s->rmu);
  if (detail::ctx_done(&ctx, ec)) return {};
  if (const rt::io_result r = rt::pd_prepare(s->pd, rt::io_mode::read); r != rt::io_result::ready) {
    ec = detail::wait_error(r, &ctx);
    return {};
  }
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int nfd = accept4(s->fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (nfd >= 0) {
      const net::address remote(reinterpret_cast<sockaddr*>(&ss), len);
      set_nodelay(nfd, remote.family());
      return conn(detail::socket_open(nfd, s->pd->rt), sock_name(nfd, false), remote);
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = sys_error();
      return {};
    }
    if (!detail::fd_wait_ready(s, rt::io_mode::read, 0, &ctx, ec)) return {};
  }
}

void conn::shutdown_write() {
  std::error_code ec;
  shutdown_write(ec);
  detail::io_check(ec, "goro::net::shutdown_write");
}

void conn::shutdown_write(std::error_code& ec) {
  ec.clear();
  detail::fd_ref ref(s_.get());
  if (!ref.ok()) {
    ec = errc::closed;
    return;
  }
  // Under the write lock: a write in progress finishes first.
  std::lock_guard<goro::mutex> serial(s_->wmu);
  if (::shutdown(s_->fd, SHUT_WR) != 0) ec = sys_error();
}

}  // namespace goro::net


namespace goro::detail {

using namespace goro::net;
using goro::io::errc;

net::listener listen_impl(std::string_view network, std::string_view addr, std::error_code& ec) {
  ec.clear();
  detail::calling_runtime("goro::net::listen");
  const family_want want = parse_network(network);
  std::vector<address> addrs = resolve(want, addr, true, ec);
  if (ec) return {};
  const address& a = addrs.front();
  const int fd = socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec = sys_error();
    return {};
  }
  const int one = 1, zero = 0;
  if (a.family() != AF_UNIX) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // "tcp" on every address: both IPv4 and IPv6, as Go does.
  if (a.family() == AF_INET6 && want == family_want::any) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (a.family() == AF_INET6 && want == family_want::v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, a.data(), a.size()) != 0 || ::listen(fd, somaxconn()) != 0) {
    ec = sys_error();
    ::close(fd);
    return {};
  }
  return net::listener(net::listener::sock(socket_open(fd)), sock_name(fd, false));
}

net::conn dial_impl(std::string_view network, std::string_view addr, std::int64_t deadline, const context* ctx,
                    std::error_code& ec) {
  ec.clear();
  detail::calling_runtime("goro::net::dial");
  const family_want want = parse_network(network);
  if (detail::ctx_done(ctx, ec)) return {};
  std::vector<address> addrs = resolve(want, addr, false, ec);
  if (ec) return {};
  for (const address& a : addrs) {
    const int fd = socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ec = sys_error();
      continue;
    }
    // Connect first, register after (as Go does): a socket registered
    // before connect() reports writable and hung up at once.
    int rc;
    do {
      rc = ::connect(fd, a.data(), a.size());
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 && errno != EINPROGRESS) {
      // Refused, unreachable, ... (EAGAIN from a Unix socket: the
      // listener's backlog is full and nothing was started; an error, as
      // in Go): try the next address.
      ec = sys_error();
      ::close(fd);
      continue;
    }
    std::error_code cerr;
    std::shared_ptr<detail::fd_state> s = socket_open(fd);
    if (rc != 0) {
      // Connecting: writable once it is done; SO_ERROR says how, and
      // getpeername that it is (a spurious wake-up leaves it connecting).
      detail::fd_ref ref(s.get());
      for (;;) {
        if (!detail::fd_wait_ready(s.get(), rt::io_mode::write, deadline, ctx, cerr)) break;
        int so = 0;
        socklen_t len = sizeof so;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len);
        if (so != 0) {
          cerr = sys_error(so);
          break;
        }
        sockaddr_storage peer{};
        socklen_t plen = sizeof peer;
        if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0) break;
        if (errno != ENOTCONN) {
          cerr = sys_error();
          break;
        }
      }
    }
    if (!cerr) {
      set_nodelay(fd, a.family());
      return net::conn(std::move(s), sock_name(fd, false), sock_name(fd, true));
    }
    ec = cerr;
    std::error_code ignored;
    detail::fd_close(s.get(), ignored);
    // Timeouts and cancellation end the whole dial; refusals try the next address.
    if (ec.category() == goro::io::io_category()) return {};
  }
  return {};
}

}  // namespace goro::detail
