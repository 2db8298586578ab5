#include "debug/fatal.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>


namespace goro::rt {

void fatal(const char* where, const char* what) noexcept {
  std::fprintf(stderr, "goro: fatal: %s: %s\n", where, what);
  std::fflush(stderr);
  std::abort();
}

void fatalf(const char* where, const char* fmt, ...) noexcept {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fatal(where, buf);
}

}  // namespace goro::rt
