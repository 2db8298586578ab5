// The execution trace recorder (goro/trace.hpp; the file format is
// docs/trace-format.md).
//
// Recording. Each M writes fixed-size binary events into a buffer of its
// own (sysmon into one of the runtime's): no lock and no shared cache line
// on the hot paths, and an M's buffer follows the M, not the P, so that a
// fiber whose P was retaken still ends its run in the right buffer. An
// event is a TSC timestamp and a few words; the creation site of a fiber is
// written once per trace (with its spawn event, or an `info` event the
// first time it runs if its spawn was not recorded), never walked from the
// stack. Off, every hook costs one relaxed load of `on`
// and a branch predicted not taken.
//
// Stopping. A writer marks its buffer busy, then re-reads `on`; the
// stopper clears `on`, runs fence_heavy (membarrier), then waits for every
// buffer to be idle: either the writer saw `on` cleared, or the stopper sees
// it busy (the asymmetric Dekker pair of os/membarrier.hpp). Buffers and
// their chunks are never freed, only recycled by the next trace, so a
// writer holding a stale buffer pointer touches live memory; it finds the
// trace's number changed and writes nothing.
//
// Memory. Events go into 1 MiB chunks, pre-faulted when first mapped and
// reused by later traces. A full trace takes chunks until options::max_mb;
// a flight recording gives each buffer a fixed ring of chunks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace goro::rt {

struct G;
struct M;
struct P;
struct runtime;

namespace trace {

// How a fiber became runnable (docs/trace-format.md, args.from).
enum class from : std::uint8_t { unknown, spawn, wake, timer, poller, outside, yield, preempt, blocking };

// Some trace is recording. relaxed: a hint re-checked under the buffer's
// busy mark (see above).
extern std::atomic<bool> on;

inline bool enabled() noexcept { return __builtin_expect(on.load(std::memory_order_relaxed), 0); }

// The hooks; call them only when enabled(). m is the calling M.
// start_running: g starts a run on m->p (ends m's open run first, with
// m->action as its reason: a direct switch starts the next fiber before
// the old one's action is carried out).
void run_begin(M* m, G* g);
// handle_action: g's run ended (a no-op if a direct switch ended it).
void run_end(M* m, G* g);
// g, running on m, got another P without switching out (rejoin's fast
// path): its run on the old P ends, one on m->p begins.
void run_moved(M* m, G* g);
// A fiber running on m created child (from prepare_fiber).
void spawned(M* m, G* child);
// g was made runnable; m is null from a thread outside the runtime. The
// source is the calling fiber's run, or the scope the caller set
// (source_scope: timers, the poller), or `outside`.
void readied(M* m, G* g, bool by_fiber);
// m's P took g from victim's queues.
void stolen(M* m, G* g, int victim);
// g, running on m, enters / leaves goro::blocking (p: the P it held, or null).
void blocking_begin(M* m, G* g);
void blocking_end(M* m, G* g);
// A fiber that yields because sysmon asked (this_fiber::preempt_point).
void preempted_yield(G* g) noexcept;
// sysmon: took p (why: 0 blocking, 1 busy, 2 asleep); asked p's fiber to
// yield; a round (counters, about every millisecond).
void sysmon_retake(runtime* rt, int p, int why);
void sysmon_preempt(runtime* rt, P* p);
void sysmon_round(runtime* rt, std::int64_t now_ns);
// The poller readied n fibers in one poll.
void netpolled(runtime* rt, M* m, int n);

// Readies made while it lives come from timers / the poller (when a trace
// was recording as it began; otherwise it does nothing).
class source_scope {
 public:
  explicit source_scope(from f) noexcept {
    if (enabled()) begin(f);
  }
  ~source_scope() {
    if (active_) end();
  }
  source_scope(const source_scope&) = delete;
  source_scope& operator=(const source_scope&) = delete;

 private:
  void begin(from f) noexcept;
  void end() noexcept;
  from saved_ = from::unknown;
  bool active_ = false;
};

// GORO_TRACE: run() starts a trace of its runtime at its start and writes
// it at its end (runtime_end: every M has stopped).
void runtime_start(runtime* rt);
void runtime_end(runtime* rt);
// Chunks of events mapped so far in this process (never unmapped; tests
// check that a flight recording stays within its ring).
std::size_t chunks_mapped() noexcept;
// Event buffers created so far in this process (one per owner that ever
// recorded at once; a new M gets one, and its ring share of chunks).
std::size_t buffers_created();
// SIGQUIT: write a flight recording (debug/stats.cpp's printing thread).
void flush_on_signal() noexcept;

}  // namespace trace
}  // namespace goro::rt
