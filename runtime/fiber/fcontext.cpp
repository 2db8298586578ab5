#include "fiber/fcontext.hpp"

#include <pthread.h>

#include "debug/fatal.hpp"

namespace goro::rt {

void init_thread_context(exec_context& c) {
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
