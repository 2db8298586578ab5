#include "debug/panic.hpp"

#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <typeinfo>

#include "debug/fatal.hpp"
#include "sched/g.hpp"

namespace goro::rt {

void report_uncaught_exception(G* g) noexcept {
  const char* what = "";
  char* type = nullptr;
  int status = 0;
  if (const std::type_info* t = abi::__cxa_current_exception_type())
    type = abi::__cxa_demangle(t->name(), nullptr, nullptr, &status);
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  const std::source_location site = site_of(g);
  char text[2048];
  std::snprintf(text, sizeof text,
                "goro: fatal: uncaught exception in fiber %llu (created at %s:%u in %s)\n"
                "  exception of type %s: %s\n",
                static_cast<unsigned long long>(goid_of(g)), site.file_name(),
                static_cast<unsigned>(site.line()), site.function_name(),
                type ? type : "(unknown)", what);
  die(text);  // flushes stdio first (debug/fatal.hpp)
}

}  // namespace goro::rt
