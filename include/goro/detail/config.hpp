// Compile-time configuration shared by the public headers and the runtime.
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
