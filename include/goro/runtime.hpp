// goro::run: start a runtime and run the main fiber.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <source_location>
#include <type_traits>
#include <utility>

#include "goro/errors.hpp"

namespace goro {

// What run() does with fibers still blocked forever once the main fiber has
// returned (options::leftovers). Go ends the program when main returns;
// goro has to give the fibers' resources back instead.
enum class leftover_policy {
  // Unwind them silently: each one's blocking operation throws
  // goro::fiber_cancelled, its destructors run, its stack goes back to the
  // pool, and run() returns main's result (or rethrows main's exception).
  unwind,
  // The same, after printing the deadlock report headed "goro: fibers left
  // blocked when main returned:" to stderr (to find such fibers).
  report_then_unwind,
  // Treat them as a deadlock: the report and abort (or deadlock_error with
  // throw_on_deadlock), as when main itself is blocked.
  abort,
};

// Knobs for scheduler studies (options::knobs): each switches one mechanism
// of the scheduler off, or changes it, so that a benchmark can measure what
// the mechanism is worth (docs/design.md, "Scheduler knobs"). The defaults
// are the scheduler as it runs normally; programs have no reason to change
// them. Every field left at its default may be set by the GORO_SCHED
// environment variable instead: a comma-separated list of key=value, like
// Go's GODEBUG (GORO_SCHED=steal=0,slice_us=1000). Keys: runnext, steal,
// handoff, direct (0 or 1), spin (-1, 0 or n), globalq (n >= 0),
// steal_amount (half or one), slice_us (n > 0). An entry that is malformed
// or names no key is reported on stderr ("goro: ignoring invalid
// GORO_SCHED entry ...") and ignored; the others still apply. run() throws
// std::invalid_argument when a field set here is out of range.
struct sched_knobs {
  // How much of a victim's local ring a thief takes.
  enum class steal_amount {
    half,  // half of it, rounded up (Go's runqgrab)
    one,   // its oldest fiber only
  };
  // A fiber readied by a running fiber (a channel hand-off, an unlock, a
  // new fiber) goes to its P's runnext slot, to run next and inherit the
  // time slice. false: to the tail of the P's ring, behind the fibers
  // queued already (FIFO). GORO_SCHED key runnext.
  bool runnext = true;
  // An M out of work takes fibers from other Ps' local queues (their ring,
  // runnext and waiting spawners). false: never; a P's local fibers run on
  // that P only (the global queue still serves every P). GORO_SCHED key
  // steal.
  bool steal = true;
  // go() on a P that already has a fiber queued hands the P to the new
  // fiber at once, and the spawner waits ("work first"). false: the new
  // fiber is queued (runnext) and the spawner goes on. GORO_SCHED key
  // handoff.
  bool spawn_handoff = true;
  // A fiber that parks, yields or ends switches straight to the next fiber
  // of its P. false: every switch goes through the M's scheduler stack
  // (g0), the spawn hand-off too. GORO_SCHED key direct.
  bool direct_switch = true;
  // How many Ms may spin (hold a P and steal, instead of going to sleep)
  // at once. -1: Go's rule, at most half the busy Ps (and one woken per
  // submitted fiber while none spins); 0: no M ever spins, so every
  // submitted fiber wakes an idle M while a P is idle, and an M out of work
  // looks for some once, then sleeps; n > 0: at most n. GORO_SCHED key spin.
  int spinning_limit = -1;
  // Every Nth pick of a P's next fiber (not counting fibers that inherit a
  // time slice) looks at the global queue first (Go's 61). 0: only when
  // the P's local queues are empty. GORO_SCHED key globalq.
  int global_check = 61;
  // How much a thief takes (see steal_amount). GORO_SCHED key steal_amount.
  steal_amount amount = steal_amount::half;
  // A fiber's time slice (Go's forcePreemptNS): after it, sysmon asks a
  // fiber that others wait for to yield and then takes its P, and a streak
  // of fibers handing the P to each other through runnext lets the queued
  // fibers run. GORO_SCHED key slice_us.
  std::chrono::microseconds time_slice{10'000};
};

// Settings of one runtime. Zero means "use the default".
struct options {
  // Number of Ps: how many fibers run in parallel. 0 = GORO_MAXPROCS from the
  // environment if set (a positive integer), else the usable CPUs (the
  // affinity mask, capped by a cgroup v1/v2 CPU quota, rounded up).
  int procs = 0;
  // Default stack size of every fiber (address space; pages are committed
  // lazily by the kernel). 0 = 256 KiB. Rounded up to whole pages (at least
  // 16 KiB). Below each stack, 64 KiB of inaccessible address space catch an
  // overflow, which ends the process with a message naming the fiber; frames
  // larger than that are caught too in code built with
  // -fstack-clash-protection, which linking goro::goro adds.
  std::size_t stack_size = 0;
  // sysmon's period (sysmon retakes the P of a blocking call or of a fiber
  // that ran a time slice, 10 ms, while others wait; see docs/design.md).
  // 0 = the GORO_SYSMON_TICK_US environment variable if set, else 20 us.
  // Negative: no sysmon (blocking calls and long-running fibers then keep
  // their P).
  std::chrono::microseconds sysmon_tick{0};
  // When every fiber is blocked forever: false (default) prints the
  // deadlock report and aborts, like Go; true makes run() throw
  // goro::deadlock_error carrying the report. The blocked fibers are not
  // unwound: their stacks, and whatever their frames own, stay allocated
  // (reachable, so leak checkers stay quiet) until the process ends.
  bool throw_on_deadlock = false;
  // Fibers left blocked forever when main has returned (see
  // leftover_policy): unwound by default. A deadlock while main is still
  // blocked is always reported (throw_on_deadlock applies to it).
  leftover_policy leftovers = leftover_policy::unwind;
  // Scheduler knobs, for studies of the scheduler (see sched_knobs): each
  // field at its default may be set by GORO_SCHED instead.
  sched_knobs knobs{};
};

namespace detail {
// Start a runtime on the calling thread, run fn(arg) as the main fiber, and
// return once every fiber has finished (or was unwound). Throws std::logic_error when called
// from inside a runtime.
void run_main(const options& opts, void (*fn)(void*), void* arg, std::source_location where);
// keep_alive's two halves; the handle is the runtime.
void* keep_alive_acquire();
void keep_alive_release(void* rt) noexcept;
}  // namespace detail

// What options::procs = 0 resolves to in this process right now.
int default_procs();

// Run `fn` as the main fiber of a new runtime on the calling thread, which
// becomes one of the runtime's OS threads (Ms) until run returns.
//
// run returns when `fn` has returned *and* every fiber spawned (directly or
// transitively) has finished: the runtime joins all its fibers. Fibers still
// blocked forever once `fn` has returned are unwound (their blocking call
// throws goro::fiber_cancelled; options::leftovers chooses otherwise). If
// all fibers, main included, are blocked forever, the runtime prints a
// deadlock report naming each fiber, its wait reason and where it was
// created, then aborts (like Go's "all goroutines are asleep").
//
// Returns fn's result. An exception escaping `fn` is rethrown by run once
// the other fibers have finished (an exception escaping any other fiber ends
// the process; see go.hpp). Calling run from inside a runtime throws
// std::logic_error. Many runtimes may run one after another (or on different
// threads) in one process.
template <class F>
auto run(options opts, F&& fn, std::source_location where = std::source_location::current())
    -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  struct frame {
    F* fn;
    std::conditional_t<std::is_void_v<R>, bool, std::optional<std::conditional_t<
        std::is_reference_v<R>, std::reference_wrapper<std::remove_reference_t<R>>, R>>> result{};
    std::exception_ptr error;
  } fr{&fn, {}, {}};
  auto body = [](void* p) {
    auto* f = static_cast<frame*>(p);
    try {
      if constexpr (std::is_void_v<R>) {
        std::invoke(*f->fn);
      } else {
        f->result.emplace(std::invoke(*f->fn));
      }
    } catch (...) {
      f->error = std::current_exception();
    }
  };
  detail::run_main(opts, body, &fr, where);
  if (fr.error) std::rethrow_exception(fr.error);
  if constexpr (std::is_void_v<R>) {
    return;
  } else if constexpr (std::is_reference_v<R>) {
    return fr.result->get();
  } else {
    return std::move(*fr.result);
  }
}

template <class F>
auto run(F&& fn, std::source_location where = std::source_location::current())
    -> std::invoke_result_t<F&> {
  return run(options{}, std::forward<F>(fn), where);
}

// Tells the runtime that a thread outside it may still wake its fibers
// (by sending on a channel, closing one, calling wait_group::done, ...), so
// that fibers all blocked on such a thread are not reported as a deadlock.
//
// Most threads need none: a thread that has used any channel, sync object
// or context cancel of goro counts as a possible waker until it exits, and
// a deadlock seen while the process has threads the runtime did not make is
// reported only after 250 ms in which no fiber ran. A keep_alive is for a
// thread that first touches goro's objects later than that after the
// fibers it will wake have blocked (it waits for a socket, a timer of its
// own, a long computation), and for code that wants the rule explicit.
//
// Create it in a fiber, hand it to the thread, and destroy it when the
// thread is done with the runtime's fibers; dropping the last one re-runs
// the deadlock check. run() does not return (nor free the runtime) while one
// exists, so a keep_alive must not outlive the work it stands for.
class keep_alive {
 public:
  keep_alive() : rt_(detail::keep_alive_acquire()) {}
  keep_alive(keep_alive&& o) noexcept : rt_(std::exchange(o.rt_, nullptr)) {}
  keep_alive& operator=(keep_alive&& o) noexcept {
    if (this != &o) {
      reset();
      rt_ = std::exchange(o.rt_, nullptr);
    }
    return *this;
  }
  keep_alive(const keep_alive&) = delete;
  keep_alive& operator=(const keep_alive&) = delete;
  ~keep_alive() { reset(); }

  // Drop the reference early.
  void reset() noexcept {
    if (rt_) detail::keep_alive_release(std::exchange(rt_, nullptr));
  }

 private:
  void* rt_;
};

}  // namespace goro
