// M: an OS thread. It runs the scheduling loop on its own stack (g0) and
// fibers on theirs, and must hold a P to run fibers.
#pragma once

#include <atomic>

#include <signal.h>
#include <time.h>

#include <cstdint>
#include <thread>

#include "context/switch.hpp"
#include "sched/note.hpp"

namespace goro::rt {

struct G;
struct P;
struct runtime;

// What a fiber that switched out asked the runtime to do with it (on g0, or
// on top of the next fiber's stack after a direct switch).
enum class m_action : std::uint8_t { none, yield, park, exit, blocking_exit, rejoin, handoff };

struct M {
  runtime* rt = nullptr;
  std::int64_t id = 0;
  context g0;            // the scheduler context on this thread's stack
  thread_slots slots;    // this thread's errno / exception globals
  G* curg = nullptr;     // the fiber running on this M
  P* p = nullptr;        // the P held (null when idle, or after sysmon took it)
  std::uint64_t p_gen = 0;  // the generation of p's ownership word we hold
  // False while a fiber runs user code on this M (sysmon may then take the
  // P); true in the runtime and on g0. Written by this M only.
  std::atomic<bool> in_rt{true};
  P* nextp = nullptr;    // P handed over by startm; read after the note wakes us
  bool spinning = false; // looking for work without having found any (see idle.cpp)
  bool coming_spare = false;  // a spare M on its way to the idle list (rt->lock)
  m_action action = m_action::none;
  G* switched_from = nullptr;  // a direct switch's old fiber (park.cpp, switch_to_fiber)
  bool started_directly = false;  // ... and its new fiber starts afresh (fiber_main)
  note park;             // idle Ms sleep here
  bool retime = false;   // woken to recompute its timed sleep (under the sched lock)
  M* link = nullptr;     // idle list, under the sched lock
  std::thread thread;    // empty for m0 (the thread that called run)
  std::uint64_t rng = 0; // per-M random state for steal order
  clockid_t cpu_clock{};  // this thread's CPU-time clock (sysmon tells running from descheduled)
  bool has_cpu_clock = false;

  // Alternate signal stack, so a fiber's stack overflow can be reported.
  void* altstack = nullptr;
  std::size_t altstack_size = 0;
  stack_t old_altstack{};
};

// The M of the calling thread, or nullptr. Out of line and opaque to the
// optimiser: a fiber may resume on another thread after any switch, so a
// thread-local address computed before must never be reused after.
M* current_m() noexcept;
void set_current_m(M* m) noexcept;

}  // namespace goro::rt
