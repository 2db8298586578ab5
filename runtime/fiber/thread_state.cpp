#include "fiber/thread_state.hpp"

#include <cxxabi.h>

#include <cerrno>

namespace goro::rt {

namespace {

// Mirror of the Itanium C++ ABI's __cxa_eh_globals (libstdc++ and libc++abi
// on non-ARM-EHABI targets): the stack of caught exceptions and the count of
// uncaught ones. A fiber that yields inside a catch block and resumes on
// another thread must bring these along, or std::rethrow / std::uncaught_
// exceptions would see the other thread's state.
struct eh_globals {
  void* caught;
  unsigned int uncaught;
};

// noinline + an empty asm: the compiler may neither inline these nor treat
// them as pure, so every call after a switch recomputes the thread-local
// address on the thread we are now on.
[[gnu::noinline]] int* errno_address() noexcept {
  asm volatile("");
  return &errno;
}
[[gnu::noinline]] eh_globals* eh_address() noexcept {
  asm volatile("");
  return reinterpret_cast<eh_globals*>(abi::__cxa_get_globals());
}

}  // namespace

thread_slots thread_slots::current() noexcept {
  eh_globals* eh = eh_address();
  return {errno_address(), &eh->caught, &eh->uncaught};
}

}  // namespace goro::rt
