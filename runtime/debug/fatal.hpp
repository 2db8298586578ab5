// Invariant failures and fatal errors: print "goro: fatal: where: what" and
// abort. Used for broken runtime invariants and for misuse that leaves state
// corrupt; recoverable misuse throws instead.
//
// Every way goro ends the process (fatal, an uncaught exception in a fiber,
// the deadlock report, a stack overflow) first flushes stdio, so that what
// the program printed to a redirected (fully buffered) stdout is not lost;
// abort() itself flushes nothing. The flush is bounded: a stream whose lock
// another thread holds for good (a fiber parked inside flockfile, a thread
// blocked writing to a full pipe) is skipped, never waited for (fatal.cpp).
#pragma once

namespace goro::rt {

[[noreturn]] void fatal(const char* where, const char* what) noexcept;
// printf-style variant.
[[noreturn]] [[gnu::format(printf, 2, 3)]] void fatalf(const char* where, const char* fmt, ...) noexcept;

// Flush stdio (bounded, see above), write `text` to stderr with write(2)
// (no stdio lock), abort. For ordinary (not signal-handler) context.
[[noreturn]] void die(const char* text) noexcept;

// From a signal handler (the stack overflow report): flush stdout and
// stderr, skipping a stream this thread was inside when the signal came
// (its buffer may be half updated) and one another thread holds for more
// than a moment. Not async-signal-safe by POSIX's list; fatal.cpp says why
// it is acceptable here.
void flush_stdio_in_signal_handler() noexcept;

}  // namespace goro::rt

// Cheap always-on check of a runtime invariant.
#define GORO_CHECK(cond, what)                                        \
  do {                                                                \
    if (__builtin_expect(!(cond), 0)) ::goro::rt::fatal(__func__, what); \
  } while (0)
