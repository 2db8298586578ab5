// Compile-time configuration shared by the public headers and the runtime:
// which sanitizer is on, and the fiber handle type.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define GORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GORO_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define GORO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GORO_TSAN 1
#endif
#endif

#ifndef GORO_ASAN
#define GORO_ASAN 0
#endif
#ifndef GORO_TSAN
#define GORO_TSAN 0
#endif

// The opaque handle the public templates hold for a fiber (the runtime's G,
// runtime/sched/g.hpp).
namespace goro::rt {
struct G;
}
namespace goro::detail {
using fiber = rt::G;
}
