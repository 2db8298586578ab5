// An exception escaped a fiber (Go's unrecovered panic).
#pragma once

namespace goro::rt {

struct G;

// Called in a catch block: prints the exception's type and what(), the
// fiber's id and creation site, and aborts.
[[noreturn]] void report_uncaught_exception(G* g) noexcept;

}  // namespace goro::rt
