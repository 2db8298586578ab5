// A descriptor behind goro::io::stream and goro::net (Go's netFD with its
// fdMutex, reduced): the descriptor, its poll record, and a count of the
// operations using it, so that close never lets a read or write reach a
// reused descriptor number.
//
// `state`: bit 31 closing; bits 0-30 operations in progress. An operation
// takes a reference (fails once closing is set) for its whole length;
// close sets closing, evicts the waiters (they return errc::closed and
// drop their references), and waits on `drained` until the last reference
// is gone; then it deregisters and closes the descriptor. The last handle
// going (~fd_state) closes it the same way if close was never called.
#pragma once

#include <atomic>
#include <cstdint>
#include <system_error>

#include <goro/context.hpp>
#include <goro/io.hpp>
#include <goro/sync.hpp>

#include "poll/poll_desc.hpp"

namespace goro::detail {

struct fd_state {
  int fd = -1;
  bool socket = false;  // send(MSG_NOSIGNAL) rather than write: no SIGPIPE
  rt::poll_desc* pd = nullptr;
  std::atomic<std::uint32_t> state{0};
  goro::semaphore drained{0};  // released by the last reference once closing
  goro::mutex rmu;             // serialises reads
  goro::mutex wmu;             // ... and writes

  static constexpr std::uint32_t closing_bit = 1u << 31;

  fd_state(int f, bool sock, rt::poll_desc* p) noexcept : fd(f), socket(sock), pd(p) {}
  ~fd_state();
  fd_state(const fd_state&) = delete;
  fd_state& operator=(const fd_state&) = delete;
};

// An operation's reference (see above). Test with ok().
class fd_ref {
 public:
  explicit fd_ref(fd_state* s) noexcept;
  ~fd_ref();
  fd_ref(const fd_ref&) = delete;
  fd_ref& operator=(const fd_ref&) = delete;
  bool ok() const noexcept { return s_ != nullptr; }

 private:
  fd_state* s_;
};

// The runtime of the calling fiber (or goro::blocking fiber); throws
// std::logic_error naming `who` when called outside one.
rt::runtime* calling_runtime(const char* who);
// Register fd (made non-blocking) with the calling runtime's poller, or
// with rt's (accept: the listener's runtime, whoever calls).
std::shared_ptr<fd_state> fd_open(int fd, bool socket);
std::shared_ptr<fd_state> fd_open(int fd, bool socket, rt::runtime* rt);
// A socket goro made (listen, accept, dial): as fd_open with the calling
// runtime (or rt), closing fd if that throws.
std::shared_ptr<fd_state> socket_open(int fd, rt::runtime* rt = nullptr);
// The error for a wait that did not end ready.
std::error_code wait_error(rt::io_result r, const context* ctx) noexcept;
// ctx's done channel core (kept alive by `holder`), or null.
chan_core* done_of(const context* ctx, chan<std::monostate>& holder);
// Set ec if ctx is already done; true then.
bool ctx_done(const context* ctx, std::error_code& ec) noexcept;
// Wait on s's record in `mode` with ctx and the call's deadline; ec set
// unless ready.
bool fd_wait_ready(fd_state* s, rt::io_mode mode, std::int64_t deadline, const context* ctx, std::error_code& ec);

}  // namespace goro::detail
