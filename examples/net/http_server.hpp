// The HTTP/1.1 "hello" server of examples/net/http_hello.cpp, in a header so
// that the tests (tests/net/http_test.cpp) drive the very same code.
//
// Per connection: keep-alive and pipelining (every complete request in the
// buffer is answered, the answers written together); and the limits a
// server facing the internet needs:
//   - a malformed request line or header: 400, then close;
//   - request headers over 8 KiB: 431, then close;
//   - a request body (Content-Length) over 1 MiB: 413; chunked bodies: 501;
//   - a client that takes more than 10 s to send a request (slowloris, or
//     an idle keep-alive connection): closed (a read deadline per request);
//   - a client that stops reading: the write gives up after 10 s (a write
//     deadline), so nothing is buffered without bound;
//   - memory per connection: the 8 KiB request buffer, plus at most 64 KiB
//     of pipelined answers before they are written.
#pragma once

#include <goro/goro.hpp>

#include <chrono>
#include <cstring>
#include <string>
#include <string_view>

namespace hello_http {

struct limits {
  std::size_t max_header = 8 * 1024;
  std::size_t max_body = 1024 * 1024;
  std::chrono::nanoseconds read_timeout = std::chrono::seconds(10);
  std::chrono::nanoseconds write_timeout = std::chrono::seconds(10);
};

inline bool is_token_char(char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); i++) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One parsed request head.
struct request {
  int status = 200;           // 200, or the error to answer with
  bool keep_alive = true;
  std::size_t body = 0;       // Content-Length
};

// Parse the head (request line and headers, without the final CRLF CRLF).
inline request parse_head(std::string_view head) {
  request r;
  const auto eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
  // METHOD SP TARGET SP HTTP/1.x
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp2 == sp1 + 1) {
    r.status = 400;
    return r;
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  for (char c : method)
    if (!is_token_char(c)) r.status = 400;
  for (char c : target)
    if (static_cast<unsigned char>(c) <= 32 || c == 127) r.status = 400;
  if (version == "HTTP/1.1") {
    r.keep_alive = true;
  } else if (version == "HTTP/1.0") {
    r.keep_alive = false;
  } else {
    r.status = 400;
  }
  if (r.status != 200) return r;
  while (!rest.empty()) {
    const auto e = rest.find("\r\n");
    const std::string_view h = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
    const auto colon = h.find(':');
    if (colon == 0 || colon == std::string_view::npos) {
      r.status = 400;
      return r;
    }
    const std::string_view name = h.substr(0, colon);
    for (char c : name)
      if (!is_token_char(c)) {
        r.status = 400;
        return r;
      }
    const std::string_view value = trim(h.substr(colon + 1));
    for (char c : value)
      if ((static_cast<unsigned char>(c) < 32 && c != '\t') || c == 127) {
        r.status = 400;
        return r;
      }
    if (iequals(name, "connection")) {
      if (iequals(value, "close")) r.keep_alive = false;
      if (iequals(value, "keep-alive")) r.keep_alive = true;
    } else if (iequals(name, "content-length")) {
      if (value.empty() || value.size() > 12) {
        r.status = 400;
        return r;
      }
      std::size_t n = 0;
      for (char c : value) {
        if (c < '0' || c > '9') {
          r.status = 400;
          return r;
        }
        n = n * 10 + static_cast<std::size_t>(c - '0');
      }
      r.body = n;
    } else if (iequals(name, "transfer-encoding")) {
      r.status = 501;
      return r;
    }
  }
  return r;
}

inline void append_response(std::string& out, int status, bool keep_alive) {
  const char* reason = status == 200 ? "OK"
                       : status == 400 ? "Bad Request"
                       : status == 413 ? "Payload Too Large"
                       : status == 431 ? "Request Header Fields Too Large"
                                       : "Not Implemented";
  const std::string_view body = status == 200 ? std::string_view("hello") : std::string_view(reason);
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason;
  out += "\r\nContent-Type: text/plain\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  out += body;
}

// Serve one connection until the client closes, misbehaves or times out.
inline void serve_conn(goro::net::conn c, const limits& lim = {}) {
  using clk = std::chrono::steady_clock;
  std::string in;  // bytes received and not yet consumed: at most max_header + one read
  std::string out;
  in.reserve(lim.max_header);
  char buf[4096];
  std::error_code ec;
  bool open = true;
  while (open) {
    // A whole request (head and body) must arrive within read_timeout.
    c.set_read_deadline(clk::now() + lim.read_timeout);
    std::size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
      if (in.size() > lim.max_header) {
        append_response(out, 431, false);
        open = false;
        break;
      }
      const std::size_t n = c.read(buf, sizeof buf, ec);
      if (ec) {  // end of stream, timeout, reset: nothing more to answer
        if (!out.empty()) {
          c.set_write_deadline(clk::now() + lim.write_timeout);
          c.write(out.data(), out.size(), ec);
        }
        c.close(ec);
        return;
      }
      in.append(buf, n);
    }
    if (!open) break;
    if (head_end > lim.max_header) {
      append_response(out, 431, false);
      break;
    }
    request r = parse_head(std::string_view(in).substr(0, head_end));
    in.erase(0, head_end + 4);
    if (r.status == 200 && r.body > lim.max_body) r.status = 413;
    if (r.status != 200) {
      append_response(out, r.status, false);
      break;
    }
    // Discard the body (the answer does not depend on it).
    std::size_t left = r.body;
    const std::size_t have = left < in.size() ? left : in.size();
    in.erase(0, have);
    left -= have;
    while (left > 0) {
      const std::size_t n = c.read(buf, left < sizeof buf ? left : sizeof buf, ec);
      if (ec) {
        c.close(ec);
        return;
      }
      left -= n;
    }
    append_response(out, 200, r.keep_alive);
    open = r.keep_alive;
    // Pipelining: answer the requests already here together; write when
    // no complete request is buffered, or when the answers grow large.
    if (open && in.find("\r\n\r\n") != std::string::npos && out.size() < 64 * 1024) continue;
    c.set_write_deadline(clk::now() + lim.write_timeout);
    c.write(out.data(), out.size(), ec);
    out.clear();
    if (ec) {
      c.close(ec);
      return;
    }
  }
  if (!out.empty()) {
    c.set_write_deadline(clk::now() + lim.write_timeout);
    c.write(out.data(), out.size(), ec);
  }
  // Tell the client we are done, and give it a moment to read the answer
  // before the close (a close with unread input would reset it).
  c.shutdown_write(ec);
  c.set_read_deadline(clk::now() + std::chrono::milliseconds(100));
  while (!ec) c.read(buf, sizeof buf, ec);
  c.close(ec);
}

// Accept and serve until the listener is closed.
inline void serve(goro::net::listener ln, const limits& lim = {}) {
  for (;;) {
    std::error_code ec;
    goro::net::conn c = ln.accept(ec);
    if (ec == goro::io::errc::closed) return;
    if (ec) {  // out of descriptors, say: wait a little, as Go's server does
      goro::this_fiber::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    goro::go([c, lim] { serve_conn(c, lim); });
  }
}

}  // namespace hello_http
