#!/usr/bin/env node
// Synthetic goro execution traces, following docs/trace-format.md, for
// developing and testing tools/trace-viewer/index.html before (and besides)
// real traces from the recorder.
//
//   node tests/viewer/make_trace.mjs --out trace.json [--procs 4]
//        [--fibers 300] [--runs 5] [--seed 1] [--mode full|flight]
//        [--max-events N]
//
// A small discrete-event simulation: --procs Ps run --fibers fibers, each
// for about --runs runs (G1, the "main" fiber, spawns the others, and they
// spawn more). A run ends in park (chan receive, mutex, chan send, sleep,
// io), yield, preempt, blocking (a slice on a "blocking M m" lane), handoff
// or exit. Parked fibers are woken by a running fiber (a "wake" flow), by a
// timer (an instant on "timers") or by the poller ("netpoll" on "poller");
// a fiber left in another P's queue while that P is busy is stolen ("steal"
// instant, from = steal). Slices on one lane never overlap; every flow joins
// two slices of the trace; counters are sampled every millisecond.
//
// Output is one event per line, ts and dur in microseconds with three
// decimals, grouped by lane (the way per-P buffers are flushed), so the
// viewer cannot rely on global ordering.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function mulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SITES = [
  { file: 'examples/fib.cpp', line: 31, func: 'void worker(goro::chan<int>&, int)', short: 'worker' },
  { file: 'examples/fib.cpp', line: 58, func: 'int main(int, char**)', short: 'main' },
  { file: 'examples/echo_server.cpp', line: 44, func: 'void serve_client(goro::io::socket)', short: 'serve_client' },
  { file: 'examples/echo_server.cpp', line: 71, func: 'void accept_loop(goro::io::listener&)', short: 'accept_loop' },
  { file: 'examples/pipeline.cpp', line: 22, func: 'void stage(goro::chan<item>&, goro::chan<item>&)', short: 'stage' },
  { file: 'examples/pipeline.cpp', line: 39, func: 'void sink(goro::chan<item>&)', short: 'sink' },
  { file: 'runtime/blocking.cpp', line: 112, func: 'void goro::detail::blocking_pool::drain()', short: 'drain' },
  { file: 'tests/stress/mutex_storm.cpp', line: 17, func: 'void contender(goro::mutex&, std::atomic<int>&)', short: 'contender' },
  { file: 'bench/ring.cpp', line: 25, func: 'void ring_node(goro::chan<int>&, goro::chan<int>&)', short: 'ring_node' },
];

// Park reasons with their weights and who wakes them.
const PARKS = [
  ['chan receive', 25, 'fiber'], ['mutex', 8, 'fiber'], ['chan send', 7, 'fiber'],
  ['sleep', 10, 'timer'], ['io', 6, 'poller'],
];

export function makeTrace(opt = {}) {
  const procs = opt.procs ?? 4;
  const nFibers = Math.max(1, opt.fibers ?? 300);
  const meanRuns = Math.max(1, opt.runs ?? 5);
  const mode = opt.mode === 'flight' ? 'flight' : 'full';
  const maxEvents = opt.maxEvents ?? Infinity;
  const rnd = mulberry32(opt.seed ?? 1);
  const ri = (a, b) => a + Math.floor(rnd() * (b - a + 1));
  const weighted = (list) => {
    let total = 0;
    for (const x of list) total += x[1];
    let r = rnd() * total;
    for (const x of list) { r -= x[1]; if (r < 0) return x; }
    return list[list.length - 1];
  };

  // All times are integer nanoseconds until output.
  const perLane = new Map(); // tid -> events (times in ns)
  const counters = [];
  let nEvents = 0;
  const emit = (tid, ev) => {
    let l = perLane.get(tid);
    if (!l) { l = []; perLane.set(tid, l); }
    l.push(ev);
    nEvents++;
  };

  const SYSMON = 1000, TIMERS = 1001, POLLER = 1002, BLOCKING = 2000;
  const fibers = [];
  let spawned = 0, live = 0, nextFlow = 1;
  const ready = [];        // fibers waiting in some P's queue (or global)
  const waiting = [];      // parked, to be woken by a running fiber
  const timers = [];       // {at, f}
  const ioWaits = [];      // {at, f}
  const mFree = [];        // blocking thread -> ns when free
  const flowSrcStart = new Map(); // flow id -> start of the source slice

  function newFiber(parent, at, p, flowId) {
    const g = ++spawned;
    // Children mostly share their parent's site; G1 is main.
    let site;
    if (g === 1) site = SITES[1];
    else if (parent && parent.site !== SITES[1] && rnd() < 0.7) site = parent.site;
    else site = SITES[ri(0, SITES.length - 1)];
    const f = {
      g, site, runsLeft: g === 1 ? Infinity : ri(1, 2 * meanRuns - 1),
      readyAt: at, queueP: p, from: 'spawn', flow: flowId, flowName: 'spawn',
    };
    fibers.push(f);
    ready.push(f);
    live++;
    return f;
  }
  function makeReady(f, at, p, from, flowId = 0, flowName = '') {
    f.readyAt = at; f.queueP = p; f.from = from;
    f.flow = flowId; f.flowName = flowName;
    ready.push(f);
  }

  const pFree = new Array(procs).fill(0).map(() => ri(0, 3000));
  const pNext = new Array(procs).fill(null); // handoff target
  newFiber(null, 0, 0, 0);
  let nextSample = 0;

  for (let guard = 0; guard < 10_000_000 && live > 0 && nEvents < maxEvents; guard++) {
    let p = 0;
    for (let q = 1; q < procs; q++) if (pFree[q] < pFree[p]) p = q;
    let t = pFree[p];

    while (nextSample <= t) {
      let runnable = 0;
      for (const f of ready) if (f.readyAt <= nextSample) runnable++;
      counters.push({ ph: 'C', pid: 1, name: 'fibers', ts: nextSample, args: { live, runnable } });
      counters.push({ ph: 'C', pid: 1, name: 'threads', ts: nextSample,
        args: { threads: procs + 1 + mFree.filter((x) => x > nextSample).length } });
      nextSample += 1_000_000;
    }

    // Timers and the poller deliver everything due by now.
    timers.sort((a, b) => a.at - b.at);
    while (timers.length && timers[0].at <= t) {
      const { at, f } = timers.shift();
      emit(TIMERS, { ph: 'i', s: 't', pid: 1, tid: TIMERS, name: 'timer', ts: at, args: { g: f.g } });
      makeReady(f, at, f.lastP ?? 0, 'timer');
    }
    ioWaits.sort((a, b) => a.at - b.at);
    while (ioWaits.length && ioWaits[0].at <= t) {
      const first = ioWaits[0].at;
      const batch = [];
      while (ioWaits.length && ioWaits[0].at <= Math.min(t, first + 30_000)) batch.push(ioWaits.shift());
      const at = batch[batch.length - 1].at;
      emit(POLLER, { ph: 'i', s: 't', pid: 1, tid: POLLER, name: 'netpoll', ts: at, args: { n: batch.length } });
      for (const w of batch) makeReady(w.f, at, w.f.lastP ?? 0, 'poller');
    }

    // Pick: a handed-off fiber, else own queue, else steal.
    let f = null, stolenFrom = -1;
    if (pNext[p]) { f = pNext[p]; pNext[p] = null; }
    else {
      let best = -1, bestSteal = -1;
      for (let k = 0; k < ready.length; k++) {
        const c = ready[k];
        if (c.readyAt > t) continue;
        if (c.queueP === p) { if (best < 0 || c.readyAt < ready[best].readyAt) best = k; }
        else if (pFree[c.queueP] > t || pNext[c.queueP]) {
          if (bestSteal < 0 || c.readyAt < ready[bestSteal].readyAt) bestSteal = k;
        }
      }
      const k = best >= 0 ? best : bestSteal;
      if (k >= 0) {
        f = ready[k];
        ready[k] = ready[ready.length - 1];
        ready.pop();
        if (best < 0) stolenFrom = f.queueP;
      }
    }
    if (!f) {
      // Idle until something becomes runnable here (in this P's queue, or
      // stealable: in the queue of a P that is still busy then).
      let next = Infinity;
      for (const c of ready) {
        if (c.queueP === p || c.readyAt < pFree[c.queueP]) next = Math.min(next, c.readyAt);
      }
      for (const x of timers) next = Math.min(next, x.at);
      for (const x of ioWaits) next = Math.min(next, x.at);
      if (next === Infinity) {
        // Wait for the busiest P to finish its run (it may wake someone).
        const latest = Math.max(...pFree);
        if (latest > t) { pFree[p] = latest; continue; }
        if (!waiting.length) break; // nothing left at all
        // Deadlock in the simulation: a thread outside the scheduler wakes someone.
        const w = waiting.splice(ri(0, waiting.length - 1), 1)[0];
        makeReady(w, Math.max(t, w.parkedAt) + ri(2_000, 40_000), p, 'outside');
        continue;
      }
      pFree[p] = Math.max(t + 1, next);
      continue;
    }

    const start = t + ri(80, 600);
    if (stolenFrom >= 0) {
      emit(p, { ph: 'i', s: 't', pid: 1, tid: p, name: 'steal', ts: start - ri(10, 60),
        args: { from: stolenFrom, g: f.g } });
    }
    const hog = rnd() < 0.04;
    const dur = hog ? ri(500_000, 3_000_000) : rnd() < 0.25 ? ri(20_000, 200_000) : ri(500, 20_000);
    const end = start + dur;
    const from = stolenFrom >= 0 ? 'steal' : f.from;

    if (f.flow) {
      emit(p, { ph: 'f', bp: 'e', pid: 1, tid: p, cat: 'flow', name: f.flowName, id: f.flow, ts: start });
      f.flow = 0;
    }

    // Inside the run: spawn children, wake parked fibers.
    const mid = () => start + ri(1, Math.max(1, dur - 1));
    if (spawned < nFibers && rnd() < (f.g === 1 ? 0.7 : 0.2)) {
      const k = f.g === 1 ? ri(1, 3) : 1;
      for (let j = 0; j < k && spawned < nFibers; j++) {
        const id = nextFlow++;
        const ts = mid();
        emit(p, { ph: 's', pid: 1, tid: p, cat: 'flow', name: 'spawn', id, ts });
        flowSrcStart.set(id, start);
        newFiber(f, ts + ri(50, 300), p, id);
      }
    }
    if (waiting.length && rnd() < 0.6) {
      // Only fibers that parked before this run's end can be woken by it.
      for (let j = 0, k = ri(1, 2), tries = 0; j < k && waiting.length && tries < 4; tries++) {
        const wi = ri(0, waiting.length - 1);
        const w = waiting[wi];
        if (w.parkedAt >= end - 2) continue;
        waiting.splice(wi, 1);
        j++;
        const id = nextFlow++;
        const lo = Math.max(start, w.parkedAt) + 1;
        const ts = lo + ri(0, end - 1 - lo);
        emit(p, { ph: 's', pid: 1, tid: p, cat: 'flow', name: 'wake', id, ts });
        flowSrcStart.set(id, start);
        makeReady(w, ts + ri(50, 300), p, 'wake', id, 'wake');
      }
    }

    // How the run ends.
    const args = { g: f.g, site: `${f.site.file}:${f.site.line}`, func: f.site.func, from };
    if (stolenFrom >= 0) args.stolen_from = stolenFrom;
    f.runsLeft--;
    f.lastP = p;
    let endKind;
    if (f.runsLeft <= 0 || (f.g === 1 && spawned >= nFibers && rnd() < 0.3)) endKind = 'exit';
    else if (hog) endKind = 'preempt';
    else {
      const r = rnd();
      endKind = r < 0.66 ? 'park' : r < 0.78 ? 'yield' : r < 0.85 ? 'blocking'
        : r < 0.89 && spawned < nFibers ? 'handoff' : 'park';
    }
    args.end = endKind;

    if (endKind === 'exit') {
      live--;
    } else if (endKind === 'park') {
      const [reason, , waker] = weighted(PARKS);
      args.reason = reason;
      emit(p, { ph: 'i', s: 't', pid: 1, tid: p, name: 'park', ts: end, args: { g: f.g, reason } });
      f.parkedAt = end;
      if (waker === 'fiber') waiting.push(f);
      else if (waker === 'timer') timers.push({ at: end + ri(50_000, 4_000_000), f });
      else ioWaits.push({ at: end + ri(20_000, 1_000_000), f });
    } else if (endKind === 'yield') {
      makeReady(f, end, p, 'yield');
    } else if (endKind === 'preempt') {
      const at = end - ri(1_000, 10_000);
      emit(SYSMON, { ph: 'i', s: 't', pid: 1, tid: SYSMON, name: 'preempt', ts: at, args: { p, g: f.g } });
      if (rnd() < 0.2) {
        emit(SYSMON, { ph: 'i', s: 't', pid: 1, tid: SYSMON, name: 'retake', ts: at + 1,
          args: { p, why: 'busy' } });
      }
      makeReady(f, end, p, 'preempt');
    } else if (endKind === 'blocking') {
      emit(p, { ph: 'i', s: 't', pid: 1, tid: p, name: 'blocking', ts: end, args: { g: f.g } });
      const bs = end + ri(100, 2_000);
      const bd = rnd() < 0.8 ? ri(10_000, 300_000) : ri(300_000, 2_000_000);
      let m = mFree.findIndex((x) => x <= bs);
      if (m < 0) { m = mFree.length; mFree.push(0); }
      mFree[m] = bs + bd + ri(100, 1_000);
      emit(BLOCKING + m, { ph: 'X', pid: 1, tid: BLOCKING + m, cat: 'blocking', name: `blocking G${f.g}`,
        ts: bs, dur: bd, args: { g: f.g, p } });
      if (bd > 20_000) {
        emit(SYSMON, { ph: 'i', s: 't', pid: 1, tid: SYSMON, name: 'retake', ts: bs + ri(10_000, 20_000),
          args: { p, why: 'blocking' } });
      }
      makeReady(f, bs + bd + ri(100, 800), ri(0, procs - 1), 'blocking');
    } else if (endKind === 'handoff') {
      const id = nextFlow++;
      const ts = end - 1;
      emit(p, { ph: 's', pid: 1, tid: p, cat: 'flow', name: 'spawn', id, ts });
      flowSrcStart.set(id, start);
      const child = newFiber(f, end, p, id);
      ready.splice(ready.indexOf(child), 1);
      pNext[p] = child;
      makeReady(f, end, p, 'yield');
    }
    if (rnd() < 0.02) {
      emit(SYSMON, { ph: 'i', s: 't', pid: 1, tid: SYSMON, name: 'retake', ts: end + ri(1_000, 50_000),
        args: { p: ri(0, procs - 1), why: 'asleep' } });
    }

    emit(p, { ph: 'X', pid: 1, tid: p, cat: 'fiber', name: `G${f.g} ${f.site.short}`,
      ts: start, dur, args });
    pFree[p] = end;
  }

  // Lanes: metadata first, then each lane's events in time order, then counters.
  const meta = [{ ph: 'M', pid: 1, name: 'process_name', args: { name: 'goro' } }];
  const laneName = (tid) => tid < 1000 ? `P ${tid}` : tid === SYSMON ? 'sysmon' : tid === TIMERS ? 'timers'
    : tid === POLLER ? 'poller' : `blocking M ${tid - BLOCKING}`;
  const tids = [...Array(procs).keys(), SYSMON, TIMERS, POLLER];
  for (let m = 0; m < mFree.length; m++) tids.push(BLOCKING + m);
  for (const tid of tids) {
    meta.push({ ph: 'M', pid: 1, tid, name: 'thread_name', args: { name: laneName(tid) } });
    meta.push({ ph: 'M', pid: 1, tid, name: 'thread_sort_index', args: { sort_index: tid } });
  }
  let body = [];
  for (const tid of tids) {
    const l = (perLane.get(tid) || []).slice().sort((a, b) => a.ts - b.ts);
    body.push(...l);
  }
  body.push(...counters);

  let dropped = 0;
  if (mode === 'flight') {
    // Only the newest events survive: cut at 40% of the span, and drop
    // arrows whose source slice is gone (every arrow joins two slices).
    let tmax = 0;
    for (const e of body) tmax = Math.max(tmax, e.ts + (e.dur || 0));
    const cut = Math.floor(tmax * 0.4);
    const keepFlow = new Set();
    for (const [id, s] of flowSrcStart) if (s >= cut) keepFlow.add(id);
    const before = body.length;
    body = body.filter((e) => (e.ph === 's' || e.ph === 'f') ? keepFlow.has(e.id) : e.ts >= cut);
    dropped = before - body.length;
  }

  const us = (ns) => ns / 1000;
  for (const e of body) {
    e.ts = us(e.ts);
    if (e.dur !== undefined) e.dur = us(e.dur);
  }
  return {
    traceEvents: meta.concat(body),
    displayTimeUnit: 'ns',
    otherData: { producer: 'goro', version: 1, procs, mode, dropped },
  };
}

// One event a line; ts and dur with exactly three decimals, as the recorder writes them.
export function traceToText(trace) {
  const fix = (k, v) => ((k === 'ts' || k === 'dur') && typeof v === 'number') ? `@@${v.toFixed(3)}@@` : v;
  const line = (e) => JSON.stringify(e, fix).replace(/"@@([0-9.]+)@@"/g, '$1');
  const head = `{"displayTimeUnit":${JSON.stringify(trace.displayTimeUnit)},` +
    `"otherData":${JSON.stringify(trace.otherData)},\n"traceEvents":[\n`;
  return head + trace.traceEvents.map(line).join(',\n') + '\n]}\n';
}

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--out' || a === '-o') o.out = val();
    else if (a === '--procs') o.procs = +val();
    else if (a === '--fibers') o.fibers = +val();
    else if (a === '--runs') o.runs = +val();
    else if (a === '--seed') o.seed = +val();
    else if (a === '--mode') o.mode = val();
    else if (a === '--max-events') o.maxEvents = +val();
    else if (a === '-h' || a === '--help') o.help = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  let o;
  try { o = parseArgs(process.argv.slice(2)); } catch (e) { console.error(e.message); process.exit(2); }
  if (o.help || !o.out) {
    console.error('usage: node make_trace.mjs --out FILE [--procs 4] [--fibers 300] [--runs 5] ' +
      '[--seed 1] [--mode full|flight] [--max-events N]');
    process.exit(o.help ? 0 : 2);
  }
  const trace = makeTrace(o);
  writeFileSync(o.out, traceToText(trace));
  const n = {};
  for (const e of trace.traceEvents) n[e.ph] = (n[e.ph] || 0) + 1;
  console.log(`${o.out}: ${trace.traceEvents.length} events ` +
    Object.entries(n).map(([k, v]) => `${k}:${v}`).join(' '));
}
