// M: an OS thread. It runs the scheduling loop on its own stack (g0) and
// fibers on theirs, and must hold a P to run fibers.
//
// States, and who may change them:
//
//   spare     made by newm without a P (a spare for sysmon's hand-offs,
//             sched/spare.cpp), on its way to the idle list; counted in
//             runtime::spares_coming until it gets there. The M itself.
//   idle      on the runtime's idle list (under the sched lock), asleep on
//             its note. Whoever takes it off the list (startm, finish,
//             timer_start's retime, or the M itself after a timed sleep)
//             decides what it does next: startm sets its next state and P
//             before waking it.
//   spinning  has no fiber and is looking for work (counted in
//             runtime::nmspinning; sched/idle.hpp, "spinning"). Holds a P,
//             except just before it gets one (a new M that newm started
//             spinning, before mstart's acquirep) and just after giving it
//             up (find_runnable, before it stops spinning).
//   running   runs a fiber or the scheduling loop. Usually holds a P; has
//             none for a moment after sysmon took it, or on its way to idle.
//   syscall   its fiber is inside goro::blocking (the P, if it still has
//             one, is in state syscall and sysmon may take it).
//   locked    its locked fiber (lockedg, sched/lockedm.hpp) is not running:
//             asleep on its note, without a P, until the fiber is handed
//             back with one (startlockedm). The M itself.
//   retired   its locked fiber ended while locked: its thread exits (m0:
//             sleeps until the runtime is done). Final. The M itself.
//
//   An M is born (allocm) spare, running (m0, or started on a P) or spinning
//   (started on a P by wakep). Then:
//   spare -> idle (stopm); running -> idle (stopm); idle -> running | spinning
//   (startm, or a timed-out sleeper that takes a P itself); running <->
//   spinning (find_runnable, reset_spinning); running <-> syscall
//   (enter_blocking / exit_blocking); running <-> locked (stoplockedm);
//   running -> retired (mretire).
//
// casmstatus checks each transition (the `from` state, and that the pair is
// one of the above) and dies with the caller's name otherwise.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "fiber/fcontext.hpp"
#include "fiber/thread_state.hpp"
#include "goro/detail/thread_role.hpp"
#include "os/note.hpp"
#include "os/rand.hpp"

namespace goro::rt {

struct G;
struct P;
struct runtime;

enum class mstatus : std::uint8_t { spare, idle, spinning, running, syscall, locked, retired };
const char* to_string(mstatus s) noexcept;

// What a fiber that switched out asked the runtime to do with it (on g0, or
// on top of the next fiber's stack after a direct switch).
enum class m_action : std::uint8_t { none, yield, park, exit, blocking_exit, rejoin, handoff };

struct M {
  runtime* rt = nullptr;
  std::int64_t id = 0;
  // Written by the M itself (or, while it is idle, by whoever took it off
  // the idle list, before waking it: the note orders the write); atomic so
  // that diagnostics may read it. relaxed.
  std::atomic<mstatus> status{mstatus::running};
  exec_context g0;       // the scheduler context on this thread's stack
  thread_slots slots;    // this thread's errno / exception globals
  G* curg = nullptr;     // the fiber running on this M
  P* p = nullptr;        // the P held (null when idle, or after sysmon took it)
  std::uint64_t p_gen = 0;  // the generation of p's ownership word we hold
  // False while a fiber runs user code on this M (sysmon may then take the
  // P); true in the runtime and on g0. Written by this M only
  // (sched/retake.hpp).
  std::atomic<bool> in_rt{true};
  P* nextp = nullptr;    // P handed over by startm; read after the note wakes us
  m_action action = m_action::none;
  // Firing a batch of timers on g0 (schedule.cpp, fire_timers): ready()
  // queues the fibers and notes that one M should be woken at the end,
  // instead of a wakep (a seq_cst fence and shared counters) per fiber.
  bool batching_readies = false;
  bool batched_ready = false;
  G* switched_from = nullptr;  // a direct switch's old fiber (sched/switch.cpp)
  // A spawn hand-off through g0 (the direct_switch knob off): the new
  // fiber, which execute() runs next. This M's own.
  G* handoff_next = nullptr;
  bool started_directly = false;  // ... and its new fiber starts afresh (fiber_main)
  note park;             // idle Ms sleep here (and locked ones, sched/lockedm.hpp)
  // lock_os_thread (sched/lockedm.hpp). lockedg: the fiber this M belongs
  // to; written by that fiber on this M, read by this M's g0. lockwait:
  // asleep for it (or m0 retired), counted in runtime::nmidlelocked; under
  // the sched lock. retire: its locked fiber ended; this M's own.
  G* lockedg = nullptr;
  bool lockwait = false;
  bool retire = false;
  bool retime = false;   // woken to recompute its timed sleep (under the sched lock)
  // The timed sleeper polls the network instead of sleeping on its note
  // (poll/netpoll.hpp); under the sched lock.
  bool poll_role = false;
  // In (or about to enter) epoll_wait: a waker must also break the poll
  // (wake_m). seq_cst, with the note: see poll_sleep in sched/idle.cpp.
  std::atomic<bool> polling{false};
  // Woken by checkdead to unwind the leftover fibers (sched/leftover.hpp);
  // set with nextp before the wake-up, read after it (the note orders them).
  bool unwind = false;
  M* link = nullptr;     // idle list, under the sched lock
  // The execution trace (trace/trace.hpp), this M's own: its event buffer,
  // the fiber whose run it has open (valid in trace trace_open_id), and
  // that run's P.
  void* trace_buf = nullptr;
  std::uint64_t trace_buf_id = 0;  // the trace trace_buf is attached to
  G* trace_open = nullptr;
  std::uint64_t trace_open_id = 0;
  std::int16_t trace_lane = -1;
  std::thread thread;    // empty for m0 (the thread that called run)
  xorshift rng;          // steal order, select order, randomised scheduling
  // How sysmon tells an M that computes from one the OS is not running
  // (descheduled, or asleep in the kernel): this thread's CPU-time clock and
  // its kernel thread id. Set by minit before the M first holds a P; read by
  // sysmon after it sees the M as a P's owner (p.hpp: acquirep publishes).
  clockid_t cpu_clock{};
  bool has_cpu_clock = false;
  pid_t tid = 0;
  // The thread's role before minit made it an M (sched/outside.hpp).
  detail::thread_role saved_role = detail::thread_role::unknown;

  // Alternate signal stack, so a fiber's stack overflow can be reported.
  void* altstack = nullptr;
  std::size_t altstack_size = 0;
  stack_t old_altstack{};

  bool spinning() const noexcept { return status.load(std::memory_order_relaxed) == mstatus::spinning; }
};

[[noreturn]] void bad_mstatus(const M* m, mstatus seen, mstatus from, mstatus to, const char* fn) noexcept;
bool mstatus_transition_ok(mstatus from, mstatus to) noexcept;

inline void casmstatus(M* m, mstatus from, mstatus to, const char* fn) noexcept {
  const mstatus s = m->status.load(std::memory_order_relaxed);
  if (__builtin_expect(s != from || !mstatus_transition_ok(from, to), 0)) bad_mstatus(m, s, from, to, fn);
  m->status.store(to, std::memory_order_relaxed);
}

// The M of the calling thread, or nullptr. Out of line and opaque to the
// optimiser: a fiber may resume on another thread after any switch, so a
// thread-local address computed before must never be reused after.
M* current_m() noexcept;
void set_current_m(M* m) noexcept;

// M set-up, in two halves. allocm (sched lock held) adds a new M in state
// `st` to rt->allm. minit runs on the M's own thread before it schedules:
// binds it as the thread's M and records the thread's stack, thread-locals,
// CPU clock and signal stack; mexit undoes what minit did.
M* allocm(runtime* rt, mstatus st);
void minit(M* m);
void mexit(M* m);

}  // namespace goro::rt
