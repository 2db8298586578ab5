// The execution trace: recording (see trace/trace.hpp) and the JSON
// export (docs/trace-format.md).
#include "trace/trace.hpp"

#include <sys/mman.h>
#include <x86intrin.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <source_location>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "debug/wait_reason.hpp"
#include "goro/trace.hpp"
#include "os/clock.hpp"
#include "os/membarrier.hpp"
#include "sched/caller.hpp"
#include "sched/retake.hpp"
#include "sched/runtime.hpp"

namespace goro::rt::trace {

std::atomic<bool> on{false};

namespace {

enum class kind : std::uint8_t {
  begin,        // g starts a run: a = flow id (0: none), b = stolen-from P, c = from
  end,          // g's run ends: c = end reason, b = wait reason
  info,         // g's creation site: a = the source_location's bits
  spawn,        // the running fiber created g: a = g's creation site (as info),
                //   b = the flow's sequence number (flow_id with the buffer's owner)
  wake,         // the running fiber readied g: a = flow id
  steal,        // this P took g from P b
  block_begin,  // g enters goro::blocking holding P p (-1: none)
  block_end,    // g leaves goro::blocking
  retake,       // sysmon took P b; c = why
  preempt,      // sysmon asked P b's fiber g to yield
  timer,        // a timer readied g
  netpoll,      // the poller readied b fibers
  counters,     // g = live fibers, a = runnable, b = threads
};

enum class end_reason : std::uint8_t { park, yield, preempt, exit, blocking, handoff, rejoin, stop, unknown };

struct event {
  std::uint64_t ts;  // TSC
  std::uint64_t g;   // fiber id
  std::uint64_t a;
  std::uint32_t b;
  kind k;
  std::uint8_t c;
  std::int16_t p;  // the P lane (-1: none)
};
static_assert(sizeof(event) == 32);

constexpr std::size_t chunk_bytes = std::size_t(1) << 20;
constexpr std::uint64_t chunk_events = chunk_bytes / sizeof(event);

// One thread's events (an M's, or sysmon's). A buffer belongs to one
// owner for the owner's whole life (its runtime's), across traces, so no
// other thread ever writes it; only once that runtime has ended (and the
// buffer is in no trace) does it go to the free list for another. The
// owner writes events and n inside its busy window; chunks come and go
// under the registry lock; the exporter reads them under that lock once
// every buffer is idle.
struct buffer {
  std::atomic<std::uint32_t> busy{0};
  // Under the registry lock:
  std::uint64_t trace_id = 0;  // the trace it is in (0: none)
  const runtime* owner_rt = nullptr;
  bool owner_ended = false;
  std::vector<event*> chunks;
  std::uint64_t n = 0;         // events written (a ring keeps the last chunks * chunk_events)
  std::uint64_t at = 0;        // where the next goes: n, or n modulo a ring's size (no division)
  std::uint64_t dropped = 0;   // events lost to a full trace
  bool ring = false;
  std::int64_t mid = -1;       // lane owner: an M's id, -1 for sysmon
  std::uint64_t flow_seq = 0;  // the owner's flow ids
};

// The registry: every buffer and chunk ever made (never freed, reused by
// later traces) and the trace being recorded. Under `mu`.
struct registry {
  std::mutex mu;
  std::vector<std::unique_ptr<buffer>> buffers;
  std::vector<buffer*> idle;  // not in the current trace
  std::vector<event*> free_chunks;
  // The current trace (id 0: none).
  std::uint64_t id = 0;
  std::uint64_t last_id = 0;
  std::string path;
  goro::trace::options opts;
  runtime* rt = nullptr;  // the runtime it records (null: the next to run a fiber)
  bool rt_ended = false;  // that runtime has ended: no other attaches
  bool from_env = false;  // started by GORO_TRACE for rt
  int procs = 0;
  std::size_t chunks_used = 0;  // full mode: against opts.max_mb
  std::uint64_t tsc0 = 0;
  std::int64_t ns0 = 0;
  std::vector<buffer*> active;
  std::int64_t last_counters = 0;
};

registry& reg() {
  static registry r;
  return r;
}

// The recording trace's number, 0 when none. Written under the registry
// lock; read by writers with relaxed loads inside their busy window (the
// Dekker pair with `on` orders it, see trace.hpp).
std::atomic<std::uint64_t> current_id{0};

thread_local from tl_source = from::unknown;

std::atomic<std::size_t> mapped{0};  // relaxed: a count, for tests

event* map_chunk() {
  mapped.fetch_add(1, std::memory_order_relaxed);
  void* p = ::mmap(nullptr, chunk_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<event*>(p);
}

// Registry lock held.
event* take_chunk(registry& r) {
  if (!r.free_chunks.empty()) {
    event* c = r.free_chunks.back();
    r.free_chunks.pop_back();
    return c;
  }
  return map_chunk();
}

std::size_t flight_chunks(const registry& r) {
  const std::size_t total = r.opts.flight_recorder_mb * ((std::size_t(1) << 20) / chunk_bytes);
  const std::size_t per = total / static_cast<std::size_t>(std::max(r.procs, 1));
  return std::max<std::size_t>(per, 1);
}

// Registry lock held: b (the owner's own, or null for a new owner) joins
// the current trace.
buffer* join_trace(registry& r, buffer* b, const runtime* rt, std::int64_t mid) {
  if (b == nullptr) {
    if (!r.idle.empty()) {
      b = r.idle.back();
      r.idle.pop_back();
    } else {
      r.buffers.push_back(std::make_unique<buffer>());
      b = r.buffers.back().get();
    }
    b->owner_rt = rt;
    b->owner_ended = false;
  }
  b->trace_id = r.id;
  b->n = 0;
  b->at = 0;
  b->dropped = 0;
  b->mid = mid;
  b->flow_seq = 0;
  b->ring = r.opts.flight_recorder_mb > 0;
  // It keeps the chunks of its last trace (a full trace's, up to the
  // budget; a ring's, exactly its share).
  const std::size_t budget = r.opts.max_mb * ((std::size_t(1) << 20) / chunk_bytes);
  const std::size_t left = budget > r.chunks_used ? budget - r.chunks_used : 0;
  std::size_t want = b->ring ? flight_chunks(r) : b->chunks.size();
  if (!b->ring && want > left) want = left;
  while (b->chunks.size() > want) {
    r.free_chunks.push_back(b->chunks.back());
    b->chunks.pop_back();
  }
  while (b->chunks.size() < want) {
    event* c = take_chunk(r);
    if (c == nullptr) break;
    b->chunks.push_back(c);
  }
  r.chunks_used += b->chunks.size();
  if (b->ring && b->chunks.empty()) b->ring = false;  // no memory: a full trace that drops
  r.active.push_back(b);
  return b;
}

// Registry lock held: b's chunks go back to the pool and b to the free list
// (its owner has ended and it is in no trace).
void retire_buffer(registry& r, buffer* b) {
  for (event* c : b->chunks) r.free_chunks.push_back(c);
  b->chunks.clear();
  r.idle.push_back(b);
}

// An owner's buffer and the trace it is attached to, as the owner (an M,
// or sysmon for its runtime) keeps them: its own fields, so the fast path
// reads nothing another thread writes.
struct handle {
  buffer* b = nullptr;
  std::uint64_t id = 0;  // 0: not recording
};

// The owner's buffer in the current trace, joining it if the owner is not
// in it yet. {null, 0} when nothing records for rt.
constexpr std::uint64_t not_recorded = std::uint64_t(1) << 63;  // slot_id: this trace is not ours

handle attach(void*& slot, std::uint64_t& slot_id, runtime* rt, std::int64_t mid) {
  const std::uint64_t cur = current_id.load(std::memory_order_relaxed);
  if (slot_id != 0 && slot_id == cur) return {static_cast<buffer*>(slot), slot_id};
  if (slot_id == (cur | not_recorded)) return {};  // another runtime's trace: no lock each time
  registry& r = reg();
  std::lock_guard<std::mutex> l(r.mu);
  if (r.id == 0) return {};
  if (r.rt == nullptr && !r.rt_ended) {
    r.rt = rt;
    r.procs = rt->procs;
  }
  if (r.rt != rt) {
    slot_id = r.id | not_recorded;
    return {};
  }
  auto* b = static_cast<buffer*>(slot);
  if (b == nullptr || b->trace_id != r.id) b = join_trace(r, b, rt, mid);
  slot = b;
  slot_id = r.id;
  return {b, r.id};
}

// Full mode: room for `need` more events, taking a chunk if needed
// (registry lock, outside the busy window: the stopper waits for busy
// buffers while holding that lock). The owner's reads of n, ring and
// chunks race with nobody: only the owner changes them while it lives
// (join_trace runs on the owner's thread too).
bool room(const handle& h, std::uint64_t need) {
  buffer* b = h.b;
  if (b->ring) return !b->chunks.empty();
  if (b->n + need <= b->chunks.size() * chunk_events) return true;
  registry& r = reg();
  std::lock_guard<std::mutex> l(r.mu);
  if (b->trace_id != h.id || r.id != h.id) return false;  // that trace ended
  const std::size_t budget = r.opts.max_mb * ((std::size_t(1) << 20) / chunk_bytes);
  event* c = r.chunks_used < budget ? take_chunk(r) : nullptr;
  if (c == nullptr) {
    b->dropped += need;
    return false;
  }
  r.chunks_used++;
  b->chunks.push_back(c);
  return true;
}

// Unique in the process, and below 2^53 (JSON numbers are doubles): 8 bits
// of the trace id, 14 of the buffer's owner, 31 of the owner's count. A
// spawn event carries only the count (its `a` holds the creation site);
// the exporter rebuilds the id from the lane's owner.
std::uint64_t flow_id(std::uint64_t trace, std::int64_t mid, std::uint32_t seq) noexcept {
  return ((trace & 0xff) << 45) | ((static_cast<std::uint64_t>(mid + 2) & 0x3fff) << 31) | (seq & 0x7fffffff);
}

// A busy window on a buffer: events go in only if the trace is still the
// one the buffer belongs to.
class writer {
 public:
  explicit writer(const handle& h, std::uint64_t need = 1) : b_(h.b) {
    if (b_ == nullptr) return;
    if (!room(h, need)) {  // full: the group is dropped (counted)
      b_ = nullptr;
      return;
    }
    b_->busy.store(1, std::memory_order_relaxed);
    fence_light();  // pairs with the stopper's fence_heavy (trace.hpp)
    // acquire: a flush that read this buffer and then set `on` again
    // (release) is done reading before we write.
    if (!on.load(std::memory_order_acquire) || current_id.load(std::memory_order_relaxed) != h.id) {
      b_->busy.store(0, std::memory_order_release);
      b_ = nullptr;
    }
  }
  ~writer() {
    // release: the exporter, after seeing 0 (acquire), sees the events.
    if (b_ != nullptr) b_->busy.store(0, std::memory_order_release);
  }
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  explicit operator bool() const noexcept { return b_ != nullptr; }

  void put(const event& e) noexcept {
    buffer* b = b_;
    const std::uint64_t cap = b->chunks.size() * chunk_events;
    if (!b->ring && b->n >= cap) {
      b->dropped++;
      return;
    }
    const std::uint64_t i = b->at;
    b->chunks[i / chunk_events][i % chunk_events] = e;
    b->n++;
    b->at = b->ring && i + 1 == cap ? 0 : i + 1;
  }
  // A new flow id (flow_id) and its sequence number.
  std::uint64_t new_flow(std::uint64_t trace, std::uint32_t* seq = nullptr) noexcept {
    const std::uint32_t n = static_cast<std::uint32_t>(++b_->flow_seq & 0x7fffffff);
    if (seq != nullptr) *seq = n;
    return flow_id(trace, b_->mid, n);
  }

 private:
  buffer* b_;
};

std::uint64_t tsc() noexcept { return __rdtsc(); }

handle m_buffer(M* m) { return attach(m->trace_buf, m->trace_buf_id, m->rt, m->id); }
handle sysmon_buffer(runtime* rt) { return attach(rt->trace_sysmon_buf, rt->trace_sysmon_buf_id, rt, -1); }

std::int16_t lane_of(const M* m) { return m->p != nullptr ? static_cast<std::int16_t>(m->p->id) : std::int16_t(-1); }

end_reason reason_of(m_action a, const G* g) {
  switch (a) {
    case m_action::park: return end_reason::park;
    case m_action::yield: return g->trace_from == from::preempt ? end_reason::preempt : end_reason::yield;
    case m_action::exit: return end_reason::exit;
    case m_action::handoff: return end_reason::handoff;
    case m_action::rejoin: return end_reason::rejoin;
    case m_action::blocking_exit: return end_reason::blocking;
    case m_action::none: break;
  }
  return end_reason::unknown;
}

// Ends g's open run on m (writer open).
void put_end(writer& w, M* m, G* g, std::uint64_t ts, end_reason why) {
  w.put({ts, goid_of(g), 0, static_cast<std::uint32_t>(g->waitreason.load(std::memory_order_relaxed)), kind::end,
         static_cast<std::uint8_t>(why), m->trace_lane});
  if (why == end_reason::yield) g->trace_from = from::yield;
  m->trace_open = nullptr;
}

// m's open run, if it was opened in this trace.
G* open_run(const M* m, const handle& h) { return m->trace_open_id == h.id ? m->trace_open : nullptr; }

}  // namespace

void run_begin(M* m, G* g) {
  const handle b = m_buffer(m);
  writer w(b, 3);
  if (!w) {
    // Not recorded (a flush in progress, a full trace): no run is open, so
    // no later event ends this one, or one of an older switch, by mistake.
    m->trace_open = nullptr;
    return;
  }
  const std::uint64_t ts = tsc();
  if (G* prev = open_run(m, b)) put_end(w, m, prev, ts, reason_of(m->action, prev));
  if (g->trace_id != b.id) {
    static_assert(sizeof(std::source_location) == sizeof(std::uint64_t));
    const auto bits = std::bit_cast<std::uint64_t>(site_of(g));
    w.put({ts, goid_of(g), bits, 0, kind::info, 0, -1});
    g->trace_id = b.id;
  }
  m->trace_lane = lane_of(m);
  w.put({ts, goid_of(g), g->trace_flow, static_cast<std::uint32_t>(g->trace_stolen_from), kind::begin,
         static_cast<std::uint8_t>(g->trace_from), m->trace_lane});
  g->trace_from = from::unknown;
  g->trace_stolen_from = -1;
  g->trace_flow = 0;
  m->trace_open = g;
  m->trace_open_id = b.id;
}

void run_end(M* m, G* g) {
  if (m->trace_open != g) return;
  const handle b = m_buffer(m);
  writer w(b);
  if (!w || open_run(m, b) != g) {
    m->trace_open = nullptr;
    return;
  }
  put_end(w, m, g, tsc(), reason_of(m->action, g));
}

void run_moved(M* m, G* g) {
  {
    const handle b = m_buffer(m);
    writer w(b);
    if (w && open_run(m, b) == g) put_end(w, m, g, tsc(), end_reason::rejoin);
  }
  m->trace_open = nullptr;
  run_begin(m, g);
}

void spawned(M* m, G* child) {
  child->trace_from = from::spawn;
  child->trace_flow = 0;
  if (m == nullptr || m->trace_open == nullptr) return;
  const handle b = m_buffer(m);
  writer w(b);
  if (!w || open_run(m, b) == nullptr) return;
  std::uint32_t seq = 0;
  const std::uint64_t flow = w.new_flow(b.id, &seq);
  // The creation site goes with the spawn, so that the child's first run
  // needs no info event.
  w.put({tsc(), goid_of(child), std::bit_cast<std::uint64_t>(site_of(child)), seq, kind::spawn, 0, m->trace_lane});
  child->trace_flow = flow;
  child->trace_id = b.id;
}

void readied(M* m, G* g, bool by_fiber) {
  g->trace_flow = 0;
  g->trace_from = from::unknown;
  if (m == nullptr) {
    g->trace_from = tl_source != from::unknown ? tl_source : from::outside;
    return;
  }
  if (by_fiber && m->trace_open != nullptr) {
    const handle b = m_buffer(m);
    writer w(b);
    if (!w || open_run(m, b) == nullptr) return;
    const std::uint64_t flow = w.new_flow(b.id);
    w.put({tsc(), goid_of(g), flow, 0, kind::wake, 0, m->trace_lane});
    g->trace_from = from::wake;
    g->trace_flow = flow;
    return;
  }
  g->trace_from = tl_source;
  if (tl_source == from::timer) {
    writer w(m_buffer(m));
    if (w) w.put({tsc(), goid_of(g), 0, 0, kind::timer, 0, -1});
  }
}

void stolen(M* m, G* g, int victim) {
  // `from` keeps how it became runnable; the steal is said apart.
  g->trace_stolen_from = static_cast<std::int16_t>(victim);
  writer w(m_buffer(m));
  if (w) w.put({tsc(), goid_of(g), 0, static_cast<std::uint32_t>(victim), kind::steal, 0, lane_of(m)});
}

void blocking_begin(M* m, G* g) {
  const handle b = m_buffer(m);
  writer w(b, 2);
  if (!w) {
    m->trace_open = nullptr;
    return;
  }
  const std::uint64_t ts = tsc();
  const std::int16_t lane = lane_of(m);
  if (open_run(m, b) == g) put_end(w, m, g, ts, end_reason::blocking);
  w.put({ts, goid_of(g), 0, 0, kind::block_begin, 0, lane});
}

void blocking_end(M* m, G* g) {
  g->trace_from = from::blocking;
  writer w(m_buffer(m));
  if (w) w.put({tsc(), goid_of(g), 0, 0, kind::block_end, 0, -1});
}

void preempted_yield(G* g) noexcept { g->trace_from = from::preempt; }

void sysmon_retake(runtime* rt, int p, int why) {
  writer w(sysmon_buffer(rt));
  if (w) w.put({tsc(), 0, 0, static_cast<std::uint32_t>(p), kind::retake, static_cast<std::uint8_t>(why), -1});
}

void sysmon_preempt(runtime* rt, P* p) {
  writer w(sysmon_buffer(rt));
  if (w) w.put({tsc(), 0, 0, static_cast<std::uint32_t>(p->id), kind::preempt, 0, -1});
}

void sysmon_round(runtime* rt, std::int64_t now) {
  if (now - rt->trace_last_counters < 1'000'000) return;
  rt->trace_last_counters = now;
  std::uint64_t runnable = 0;
  int threads;
  {
    std::lock_guard<futex_lock> l(rt->lock);
    runnable = static_cast<std::uint64_t>(rt->runq.size());
    threads = rt->mcount;
  }
  for (auto& p : rt->allp) runnable += p->runq.size() + p->conts.size();
  // relaxed: a count, for display.
  const auto live = static_cast<std::uint64_t>(live_fibers(rt));
  writer w(sysmon_buffer(rt));
  if (w) w.put({tsc(), live, runnable, static_cast<std::uint32_t>(threads), kind::counters, 0, -1});
}

void netpolled(runtime* rt, M* m, int n) {
  if (n <= 0) return;
  writer w(m != nullptr ? m_buffer(m) : sysmon_buffer(rt));
  if (w) w.put({tsc(), 0, 0, static_cast<std::uint32_t>(n), kind::netpoll, 0, -1});
}

void source_scope::begin(from f) noexcept {
  active_ = true;
  saved_ = tl_source;
  tl_source = f;
}

void source_scope::end() noexcept { tl_source = saved_; }

// ---- export -------------------------------------------------------------------

namespace {

struct lane_events {
  std::int64_t mid;
  std::vector<event> ev;  // oldest first
};

struct snapshot {
  std::uint64_t id = 0;  // the trace's number (flow ids carry it)
  std::vector<lane_events> lanes;
  // The creation sites of the traced runtime's live fibers, for those
  // whose `info` event a flight recording overwrote: (id, site bits).
  std::vector<std::pair<std::uint64_t, std::uint64_t>> live_sites;
  std::uint64_t dropped = 0;
  std::uint64_t tsc0 = 0, tsc1 = 0;
  std::int64_t ns0 = 0, ns1 = 0;
  int procs = 0;
  bool flight = false;
};

// Registry lock held. Stops every writer (on cleared, fence_heavy, every
// buffer idle), copies the events, and leaves recording off.
snapshot take_snapshot(registry& r) {
  init_membarrier();  // once per process; this thread may be outside every runtime
  on.store(false, std::memory_order_seq_cst);
  fence_heavy();
  for (buffer* b : r.active)
    while (b->busy.load(std::memory_order_acquire) != 0) __builtin_ia32_pause();
  snapshot s;
  s.id = r.id;
  s.tsc0 = r.tsc0;
  s.ns0 = r.ns0;
  s.tsc1 = tsc();
  s.ns1 = now_ns();
  s.procs = r.procs;
  s.flight = r.opts.flight_recorder_mb > 0;
  if (r.rt != nullptr) {
    // Lock order: the registry lock, then allglock (no hook runs under
    // allglock). r.rt is cleared (runtime_end, under the registry lock)
    // before the runtime is freed.
    std::lock_guard<futex_lock> l(r.rt->allglock);
    for (G* g = r.rt->allg; g; g = g->allnext)
      if (g->status.load(std::memory_order_relaxed) != gstatus::dead)
        s.live_sites.emplace_back(goid_of(g), std::bit_cast<std::uint64_t>(site_of(g)));
  }
  for (buffer* b : r.active) {
    s.dropped += b->dropped;
    lane_events le{b->mid, {}};
    const std::uint64_t cap = b->chunks.size() * chunk_events;
    std::uint64_t first = 0, count = b->n;
    if (b->ring && b->n > cap) {
      first = b->n - cap;
      count = cap;
      s.dropped += first;
    }
    le.ev.reserve(count);
    for (std::uint64_t i = first; i < first + count; i++) {
      const std::uint64_t k = b->ring ? i % cap : i;
      le.ev.push_back(b->chunks[k / chunk_events][k % chunk_events]);
    }
    s.lanes.push_back(std::move(le));
  }
  return s;
}

// Registry lock held: the trace ends; its buffers and chunks go back to
// the pool.
void release_trace(registry& r) {
  for (buffer* b : r.active) {
    b->trace_id = 0;
    if (b->owner_ended) retire_buffer(r, b);
  }
  r.active.clear();
  r.id = 0;
  current_id.store(0, std::memory_order_relaxed);
  r.rt = nullptr;
  r.rt_ended = false;
  r.from_env = false;
}

struct slice {
  std::int64_t start, end;  // ns
  std::uint64_t g;
  std::uint64_t flow;
  int p;
  from f;
  int stolen_from;
  end_reason why;
  std::uint32_t wait;
  bool cut = false;  // ended where the next run on its P began (its P was retaken)
};

struct block_slice {
  std::int64_t start, end;
  std::uint64_t g;
  int p;
  std::int64_t mid;
};

struct flow_src {
  std::int64_t ts;
  int p;
  bool spawn;
};

const char* from_name(from f) {
  switch (f) {
    case from::spawn: return "spawn";
    case from::wake: return "wake";
    case from::timer: return "timer";
    case from::poller: return "poller";
    case from::outside: return "outside";
    case from::yield: return "yield";
    case from::preempt: return "preempt";
    case from::blocking: return "blocking";
    case from::unknown: break;
  }
  return "unknown";
}

const char* end_name(end_reason e) {
  switch (e) {
    case end_reason::park: return "park";
    case end_reason::yield: return "yield";
    case end_reason::preempt: return "preempt";
    case end_reason::exit: return "exit";
    case end_reason::blocking: return "blocking";
    case end_reason::handoff: return "handoff";
    case end_reason::rejoin: return "rejoin";
    case end_reason::stop: return "stop";
    case end_reason::unknown: break;
  }
  return "unknown";
}

std::string json_escape(const char* s) {
  std::string out;
  for (; *s; s++) {
    const unsigned char c = static_cast<unsigned char>(*s);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// "ns" as microseconds with three decimals.
void put_us(std::string& out, std::int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(ns / 1000), static_cast<long long>(ns % 1000));
  out += buf;
}

struct site_text {
  std::string site, func, name;
};

site_text describe(std::uint64_t bits, std::uint64_t g) {
  const auto loc = std::bit_cast<std::source_location>(bits);
  site_text t;
  t.site = json_escape(loc.file_name()) + ":" + std::to_string(loc.line());
  t.func = json_escape(loc.function_name());
  // The short name: the function's own name, without return type,
  // parameters or namespaces.
  std::string f = loc.function_name();
  if (const auto paren = f.find('('); paren != std::string::npos) f.resize(paren);
  if (const auto sp = f.rfind(' '); sp != std::string::npos) f.erase(0, sp + 1);
  if (const auto colons = f.rfind("::"); colons != std::string::npos) f.erase(0, colons + 2);
  t.name = "G" + std::to_string(g) + (f.empty() ? "" : " " + json_escape(f.c_str()));
  return t;
}

std::string to_json(const snapshot& s) {
  const double scale = s.tsc1 > s.tsc0 ? double(s.ns1 - s.ns0) / double(s.tsc1 - s.tsc0) : 1.0;
  std::uint64_t origin = UINT64_MAX;
  for (const auto& l : s.lanes)
    for (const event& e : l.ev) origin = std::min(origin, e.ts);
  auto ns = [&](std::uint64_t t) { return static_cast<std::int64_t>(double(t - origin) * scale); };
  const std::int64_t stop_ns = s.tsc1 > origin ? ns(s.tsc1) : 0;

  std::unordered_map<std::uint64_t, std::uint64_t> sites;  // g -> source_location bits
  std::vector<slice> slices;
  std::vector<block_slice> blocks;
  std::unordered_map<std::uint64_t, flow_src> sources;  // flow id -> where it starts
  std::string inst;  // instants and counters, already JSON
  auto instant = [&](const char* name, const char* cat, int tid, std::int64_t t, const std::string& args) {
    inst += ",\n{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":" + std::to_string(tid) + ",\"cat\":\"" + cat +
            "\",\"name\":\"" + name + "\",\"ts\":";
    put_us(inst, t);
    inst += ",\"args\":{" + args + "}}";
  };
  int procs = s.procs;
  for (const auto& l : s.lanes) {
    const event* open = nullptr;
    const event* bopen = nullptr;
    for (const event& e : l.ev) {
      if (e.p >= procs) procs = e.p + 1;
      switch (e.k) {
        case kind::info: sites[e.g] = e.a; break;
        case kind::begin:
          if (open != nullptr)  // its end was not recorded: ends here
            slices.push_back({ns(open->ts), ns(e.ts), open->g, open->a, open->p, static_cast<from>(open->c),
                              static_cast<int>(open->b), end_reason::unknown, 0});
          open = &e;
          break;
        case kind::end:
          if (open != nullptr && open->g == e.g) {
            slices.push_back({ns(open->ts), ns(e.ts), open->g, open->a, open->p, static_cast<from>(open->c),
                              static_cast<int>(static_cast<std::int32_t>(open->b)), static_cast<end_reason>(e.c), e.b});
            if (static_cast<end_reason>(e.c) == end_reason::park && open->p >= 0)
              instant("park", "sched", open->p, ns(e.ts),
                      "\"g\":" + std::to_string(e.g) + ",\"reason\":\"" +
                          to_string(static_cast<detail::wait_reason>(e.b)) + "\"");
            if (static_cast<end_reason>(e.c) == end_reason::blocking && open->p >= 0)
              instant("blocking", "sched", open->p, ns(e.ts), "\"g\":" + std::to_string(e.g));
          }
          open = nullptr;
          break;
        case kind::spawn:
          sites[e.g] = e.a;
          if (e.p >= 0) sources[flow_id(s.id, l.mid, e.b)] = {ns(e.ts), e.p, true};
          break;
        case kind::wake:
          if (e.p >= 0) sources[e.a] = {ns(e.ts), e.p, false};
          break;
        case kind::steal:
          if (e.p >= 0)
            instant("steal", "sched", e.p, ns(e.ts), "\"from\":" + std::to_string(e.b) + ",\"g\":" + std::to_string(e.g));
          break;
        case kind::block_begin: bopen = &e; break;
        case kind::block_end:
          if (bopen != nullptr && bopen->g == e.g) blocks.push_back({ns(bopen->ts), ns(e.ts), e.g, bopen->p, l.mid});
          bopen = nullptr;
          break;
        case kind::retake: {
          static const char* const why[] = {"blocking", "busy", "asleep"};
          instant("retake", "sysmon", 1000, ns(e.ts),
                  "\"p\":" + std::to_string(e.b) + ",\"why\":\"" + why[e.c < 3 ? e.c : 0] + "\"");
          break;
        }
        case kind::preempt: instant("preempt", "sysmon", 1000, ns(e.ts), "\"p\":" + std::to_string(e.b)); break;
        case kind::timer: instant("timer", "timers", 1001, ns(e.ts), "\"g\":" + std::to_string(e.g)); break;
        case kind::netpoll: instant("netpoll", "poller", 1002, ns(e.ts), "\"n\":" + std::to_string(e.b)); break;
        case kind::counters: {
          inst += ",\n{\"ph\":\"C\",\"pid\":1,\"name\":\"fibers\",\"ts\":";
          put_us(inst, ns(e.ts));
          inst += ",\"args\":{\"live\":" + std::to_string(e.g) + ",\"runnable\":" + std::to_string(e.a) + "}}";
          inst += ",\n{\"ph\":\"C\",\"pid\":1,\"name\":\"threads\",\"ts\":";
          put_us(inst, ns(e.ts));
          inst += ",\"args\":{\"threads\":" + std::to_string(e.b) + "}}";
          break;
        }
      }
    }
    if (open != nullptr)  // still running when the recording stopped
      slices.push_back({ns(open->ts), std::max(stop_ns, ns(open->ts)), open->g, open->a, open->p,
                        static_cast<from>(open->c), static_cast<int>(static_cast<std::int32_t>(open->b)),
                        end_reason::stop, 0});
    if (bopen != nullptr) blocks.push_back({ns(bopen->ts), std::max(stop_ns, ns(bopen->ts)), bopen->g, bopen->p, l.mid});
  }

  for (const auto& [g, bits] : s.live_sites) sites.emplace(g, bits);  // info events first

  // Runs on one P never overlap: a run whose P sysmon retook (its fiber
  // went on computing without it) is cut where the P's next run began.
  std::vector<std::vector<slice*>> by_p(static_cast<std::size_t>(std::max(procs, 1)));
  for (slice& sl : slices)
    if (sl.p >= 0) by_p[static_cast<std::size_t>(sl.p)].push_back(&sl);
  for (auto& v : by_p) {
    std::sort(v.begin(), v.end(), [](const slice* a, const slice* b) { return a->start < b->start; });
    for (std::size_t i = 0; i + 1 < v.size(); i++)
      if (v[i]->end > v[i + 1]->start) {
        v[i]->end = v[i + 1]->start;
        v[i]->cut = true;
      }
  }
  auto inside = [&](int p, std::int64_t t) {
    if (p < 0 || static_cast<std::size_t>(p) >= by_p.size()) return false;
    const auto& v = by_p[static_cast<std::size_t>(p)];
    auto it = std::upper_bound(v.begin(), v.end(), t, [](std::int64_t x, const slice* sl) { return x < sl->start; });
    return it != v.begin() && (*(it - 1))->end >= t;
  };

  std::string out = "{\"traceEvents\":[\n{\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\",\"args\":{\"name\":\"goro\"}}";
  auto lane = [&](int tid, const std::string& name) {
    out += ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":" + std::to_string(tid) +
           ",\"name\":\"thread_name\",\"args\":{\"name\":\"" + name + "\"}}";
    out += ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":" + std::to_string(tid) +
           ",\"name\":\"thread_sort_index\",\"args\":{\"sort_index\":" + std::to_string(tid) + "}}";
  };
  for (int p = 0; p < procs; p++) lane(p, "P " + std::to_string(p));
  lane(1000, "sysmon");
  lane(1001, "timers");
  lane(1002, "poller");
  std::vector<std::int64_t> block_lanes;
  for (const auto& b : blocks) block_lanes.push_back(b.mid);
  std::sort(block_lanes.begin(), block_lanes.end());
  block_lanes.erase(std::unique(block_lanes.begin(), block_lanes.end()), block_lanes.end());
  for (std::int64_t mid : block_lanes) lane(static_cast<int>(2000 + mid), "blocking M" + std::to_string(mid));

  std::unordered_map<std::uint64_t, site_text> texts;
  auto text_of = [&](std::uint64_t g) -> const site_text& {
    auto it = texts.find(g);
    if (it != texts.end()) return it->second;
    auto si = sites.find(g);
    site_text t = si != sites.end() ? describe(si->second, g) : site_text{"unknown", "unknown", "G" + std::to_string(g)};
    return texts.emplace(g, std::move(t)).first->second;
  };
  for (const slice& sl : slices) {
    if (sl.p < 0) continue;
    const site_text& t = text_of(sl.g);
    out += ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":" + std::to_string(sl.p) + ",\"cat\":\"fiber\",\"name\":\"" + t.name +
           "\",\"ts\":";
    put_us(out, sl.start);
    out += ",\"dur\":";
    put_us(out, sl.end - sl.start);
    out += ",\"args\":{\"g\":" + std::to_string(sl.g) + ",\"site\":\"" + t.site + "\",\"func\":\"" + t.func +
           "\",\"from\":\"" + from_name(sl.f) + "\"";
    if (sl.stolen_from >= 0) out += ",\"stolen_from\":" + std::to_string(sl.stolen_from);
    out += ",\"end\":\"";
    out += end_name(sl.why);
    out += "\"";
    if (sl.why == end_reason::park) {
      out += ",\"reason\":\"";
      out += to_string(static_cast<detail::wait_reason>(sl.wait));
      out += "\"";
    }
    if (sl.cut) out += ",\"retaken\":true";
    out += "}}";
    // The arrow into this run, if its source is in the trace.
    if (sl.flow != 0) {
      auto it = sources.find(sl.flow);
      if (it != sources.end() && inside(it->second.p, it->second.ts) && it->second.ts <= sl.start) {
        const char* name = it->second.spawn ? "spawn" : "wake";
        const std::string id = std::to_string(sl.flow);
        out += ",\n{\"ph\":\"s\",\"pid\":1,\"tid\":" + std::to_string(it->second.p) +
               ",\"cat\":\"flow\",\"name\":\"" + name + "\",\"id\":" + id + ",\"ts\":";
        put_us(out, it->second.ts);
        out += "},\n{\"ph\":\"f\",\"bp\":\"e\",\"pid\":1,\"tid\":" + std::to_string(sl.p) +
               ",\"cat\":\"flow\",\"name\":\"" + name + "\",\"id\":" + id + ",\"ts\":";
        put_us(out, sl.start);
        out += "}";
      }
    }
  }
  for (const block_slice& b : blocks) {
    out += ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":" + std::to_string(2000 + b.mid) +
           ",\"cat\":\"blocking\",\"name\":\"blocking G" + std::to_string(b.g) + "\",\"ts\":";
    put_us(out, b.start);
    out += ",\"dur\":";
    put_us(out, b.end - b.start);
    out += ",\"args\":{\"g\":" + std::to_string(b.g) + ",\"p\":" + std::to_string(b.p) + "}}";
  }
  out += inst;
  out += "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"producer\":\"goro\",\"version\":1,\"procs\":" +
         std::to_string(procs) + ",\"mode\":\"" + (s.flight ? "flight" : "full") +
         "\",\"dropped\":" + std::to_string(s.dropped) + "}}\n";
  return out;
}

void write_file(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::system_error(errno, std::generic_category(), "goro::trace: cannot open " + path);
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) throw std::system_error(errno ? errno : EIO, std::generic_category(), "goro::trace: cannot write " + path);
}

// Registry lock held.
void begin_trace(registry& r, const std::string& path, const goro::trace::options& opts, runtime* rt) {
  // Fails early on a bad path.
  write_file(path, "");
  r.id = ++r.last_id;
  r.path = path;
  r.opts = opts;
  if (r.opts.max_mb == 0) r.opts.max_mb = 1;
  r.rt = rt;
  r.rt_ended = false;
  r.procs = rt != nullptr ? rt->procs : 0;
  r.chunks_used = 0;
  r.tsc0 = tsc();
  r.ns0 = now_ns();
  current_id.store(r.id, std::memory_order_relaxed);
  // seq_cst: after the id, so that a writer that sees `on` sees the id
  // (it re-checks both in its busy window anyway).
  on.store(true, std::memory_order_seq_cst);
}

runtime* caller_runtime() {
  const caller c = classify();
  return c.m != nullptr ? c.m->rt : nullptr;
}

// Stop and write (registry lock taken here).
bool stop_trace(runtime* only_for) {
  registry& r = reg();
  snapshot s;
  std::string path;
  {
    std::lock_guard<std::mutex> l(r.mu);
    if (r.id == 0) return false;
    if (only_for != nullptr && (r.rt != only_for || !r.from_env)) return false;
    s = take_snapshot(r);
    path = r.path;
    release_trace(r);
  }
  write_file(path, to_json(s));
  return true;
}

}  // namespace

void runtime_start(runtime* rt) {
  const char* path = std::getenv("GORO_TRACE");
  if (path == nullptr || *path == '\0') return;
  goro::trace::options opts;
  if (const char* mb = std::getenv("GORO_TRACE_FLIGHT_MB")) {
    char* end = nullptr;
    const long v = std::strtol(mb, &end, 10);
    if (*mb != '\0' && *end == '\0' && v >= 0 && v <= 1 << 20) {
      opts.flight_recorder_mb = static_cast<std::size_t>(v);
    } else {
      std::fprintf(stderr, "goro: ignoring invalid GORO_TRACE_FLIGHT_MB=%s\n", mb);
    }
  }
  registry& r = reg();
  std::lock_guard<std::mutex> l(r.mu);
  if (r.id != 0) return;  // a trace is already recording
  try {
    begin_trace(r, path, opts, rt);
    r.from_env = true;
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "goro: GORO_TRACE: %s\n", e.what());
  }
}

void runtime_end(runtime* rt) {
  {
    registry& r = reg();
    std::lock_guard<std::mutex> l(r.mu);
    // Its Ms and sysmon are gone: their buffers may serve other owners,
    // once out of any trace.
    for (auto& b : r.buffers)
      if (b->owner_rt == rt && !b->owner_ended) {
        b->owner_ended = true;
        if (b->trace_id == 0) retire_buffer(r, b.get());
      }
    if (r.id == 0 || r.rt != rt) return;
    if (!r.from_env) {
      // Recorded by trace::start: it stays readable until stop(), but no
      // later runtime (maybe at this one's address) joins it.
      r.rt_ended = true;
      r.rt = nullptr;
      return;
    }
  }
  try {
    stop_trace(rt);
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "goro: GORO_TRACE: %s\n", e.what());
  }
}

std::size_t chunks_mapped() noexcept { return mapped.load(std::memory_order_relaxed); }

std::size_t buffers_created() {
  registry& r = reg();
  std::lock_guard<std::mutex> l(r.mu);
  return r.buffers.size();
}

void flush_on_signal() noexcept {
  try {
    if (goro::trace::active()) goro::trace::flush();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "goro: writing the trace on SIGQUIT: %s\n", e.what());
  }
}

}  // namespace goro::rt::trace

namespace goro::trace {

using namespace goro::rt::trace;

void start(const std::string& path, const options& opts) {
  {
    registry& r = reg();
    std::lock_guard<std::mutex> l(r.mu);
    if (r.id != 0) throw std::logic_error("goro::trace::start: a trace is already being recorded");
    begin_trace(r, path, opts, caller_runtime());
  }
  // The calling fiber's run began before the trace: open one now, so that
  // what it does next (spawns, wakes) has a run to start its arrows from.
  const rt::caller c = rt::classify();
  if (c.kind == rt::caller_kind::fiber) {
    rt::M* m = c.m;
    if (rt::enter_runtime(m) != nullptr) run_begin(m, c.g);
    rt::leave_runtime(m);
  }
}

bool stop() { return stop_trace(nullptr); }

bool flush() {
  registry& r = reg();
  snapshot s;
  std::string path;
  {
    std::lock_guard<std::mutex> l(r.mu);
    if (r.id == 0) return false;
    s = take_snapshot(r);
    path = r.path;
    on.store(true, std::memory_order_seq_cst);  // recording goes on
  }
  write_file(path, to_json(s));
  return true;
}

bool active() noexcept {
  registry& r = reg();
  std::lock_guard<std::mutex> l(r.mu);
  return r.id != 0;
}

}  // namespace goro::trace
