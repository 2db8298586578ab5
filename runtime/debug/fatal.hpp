// Invariant failures and fatal errors: print "goro: fatal: where: what" and
// abort. Used for broken runtime invariants and for misuse that leaves state
// corrupt; recoverable misuse throws instead.
#pragma once

namespace goro::rt {

[[noreturn]] void fatal(const char* where, const char* what) noexcept;
// printf-style variant.
[[noreturn]] [[gnu::format(printf, 2, 3)]] void fatalf(const char* where, const char* fmt, ...) noexcept;

}  // namespace goro::rt

// Cheap always-on check of a runtime invariant.
#define GORO_CHECK(cond, what)                                        \
  do {                                                                \
    if (__builtin_expect(!(cond), 0)) ::goro::rt::fatal(__func__, what); \
  } while (0)
