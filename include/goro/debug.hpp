// Seeing inside the scheduler: counters (stats), a dump of every fiber
// (dump), and the environment switches GORO_SCHEDTRACE and
// GORO_SCHEDTRACE_DETAIL (docs/api.md, "Diagnostics").
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace goro {

// One P's counters. Counts are since the runtime started; each is written
// only by the thread holding the P (steals_suffered by thieves), so a
// snapshot taken while fibers run is a consistent-enough sample, not an
// atomic one.
struct proc_stats {
  int id = 0;
  // "idle", "running", "syscall" (its fiber is in goro::blocking) or
  // "taken" (sysmon is handing it to another thread).
  std::string status;
  std::uint32_t runq = 0;      // fibers on its local queue (runnext included)
  std::uint64_t switches = 0;  // fibers switched to (every run of a fiber)
  std::uint64_t started = 0;   // fibers that began running here
  std::uint64_t spawned = 0;   // fibers created by fibers running here
  std::uint64_t steals = 0;    // fibers this P took from other Ps
  std::uint64_t steals_suffered = 0;  // fibers other Ps took from this one
  std::uint64_t global_pulls = 0;     // fibers taken from the global queue
  std::uint64_t parks = 0;     // fibers that parked (blocked) here
  std::uint64_t wakeups = 0;   // fibers readied by code running here
};

// A snapshot of one runtime.
struct runtime_stats {
  int procs = 0;
  std::int64_t live_fibers = 0;    // created and not finished (main included)
  std::uint64_t total_fibers = 0;  // created since the runtime started (main included)
  int threads = 0;                 // Ms (OS threads running fibers or idle), not sysmon
  int idle_threads = 0;            // Ms asleep with nothing to do
  int spinning_threads = 0;        // Ms looking for work
  int idle_procs = 0;
  std::size_t global_queue = 0;    // fibers on the global run queue
  std::uint64_t parks = 0;         // sum of the Ps' parks
  std::uint64_t wakeups = 0;       // every ready: the Ps', timers', the poller's, outside threads'
  std::uint64_t retakes_blocking = 0;  // sysmon took a P from a blocking call
  std::uint64_t retakes_busy = 0;      // ... from a fiber computing a whole time slice
  std::uint64_t retakes_asleep = 0;    // ... from a fiber asleep in an unwrapped system call
  std::uint64_t preempt_requests = 0;  // sysmon asked a fiber to yield
  std::size_t timers = 0;              // timers pending (sleeps, timeouts, goro::timer)
  std::size_t io_waiters = 0;          // fibers waiting for a descriptor
  std::size_t open_descriptors = 0;    // descriptors registered with the poller
  std::vector<proc_stats> p;
};

// The calling fiber's runtime (also inside goro::blocking). Takes the
// scheduler lock briefly. Throws std::logic_error outside a runtime.
runtime_stats stats();

// Writes every fiber of the calling fiber's runtime: id, state, what it
// waits for and for how long, where it was created, and, for a fiber
// blocked on a goro::mutex or a channel, the fiber that holds the mutex or
// is queued ahead of it on the channel, when known. The deadlock report prints the same
// lines. Throws std::logic_error outside a runtime.
void dump(std::ostream& out);

// The same for every live runtime of the process, each headed by a line
// "goro: runtime N (procs P):". Safe to call from any thread, including one
// outside every runtime. What SIGQUIT prints (see GORO_SIGQUIT in
// docs/api.md).
void dump_all(std::ostream& out);

}  // namespace goro
