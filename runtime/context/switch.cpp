#include "context/switch.hpp"

#include <cxxabi.h>
#include <pthread.h>

#include <cerrno>
#include <cstring>

#include "debug/fatal.hpp"

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

void init_thread_context(context& c) {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) fatal("init_thread_context", "pthread_getattr_np failed");
  void* lo = nullptr;
  std::size_t size = 0;
  pthread_attr_getstack(&attr, &lo, &size);
  pthread_attr_destroy(&attr);
  c.stack_lo = lo;
  c.stack_size = size;
#if GORO_TSAN
  c.tsan_fiber = __tsan_get_current_fiber();
#endif
}

void* create_fiber_annotation() noexcept {
#if GORO_TSAN
  return __tsan_create_fiber(0);
#else
  return nullptr;
#endif
}

void destroy_fiber_annotation([[maybe_unused]] void* f) noexcept {
#if GORO_TSAN
  if (f) __tsan_destroy_fiber(f);
#endif
}

void unpoison_stack([[maybe_unused]] const void* lo, [[maybe_unused]] std::size_t size) noexcept {
#if GORO_ASAN
  ASAN_UNPOISON_MEMORY_REGION(lo, size);
#endif
}

}  // namespace goro::rt
