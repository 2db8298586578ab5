#!/usr/bin/env python3
"""Checks a goro execution trace (docs/trace-format.md) for the trace tests.

usage: check_trace.py TRACE [--fibers FILE [--spawned]] [--site TEXT] [--need KIND ...]

Always: the file parses as JSON in the object form; every event has the
fields its phase needs; every lane with events is named; slices on one
lane never overlap; every flow arrow is a start and a finish with one id,
the start inside a slice on its lane, the finish at the start of a slice
on its lane. --fibers: a file of fiber ids (one per line) that must each
have a run; with --spawned, each one's first run also begins where a
spawn arrow ends (the fibers were created by a fiber the trace saw run). --site: some fiber slice's args.site ends with TEXT. --need:
at least one of each named thing: an instant name (steal, park, ...), a
flow name (spawn, wake), a value of args.from (from:timer, ...), a slice
category (cat:blocking), or a counter (counter:fibers).
Prints what it checked; exits 1 on the first failure.
"""
import bisect
import json
import sys
from collections import defaultdict


def fail(msg):
    print("check_trace: FAIL: " + msg)
    sys.exit(1)


def main():
    args = sys.argv[1:]
    if not args:
        fail("no trace given")
    path = args.pop(0)
    fibers_file = site = None
    spawned = False
    need = []
    while args:
        a = args.pop(0)
        if a == "--fibers":
            fibers_file = args.pop(0)
        elif a == "--spawned":
            spawned = True
        elif a == "--site":
            site = args.pop(0)
        elif a == "--need":
            while args and not args[0].startswith("--"):
                need.append(args.pop(0))
        else:
            fail("unknown argument " + a)

    with open(path) as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or "traceEvents" not in doc:
        fail("not the object form with traceEvents")
    other = doc.get("otherData", {})
    if other.get("producer") != "goro":
        fail("otherData.producer is not goro")
    events = doc["traceEvents"]

    named = {}
    slices = defaultdict(list)  # tid -> [(start, end, event)]
    flows = defaultdict(dict)   # id -> {"s": ev, "f": ev}
    seen = set()
    used_tids = set()
    for e in events:
        ph = e.get("ph")
        if ph not in ("M", "X", "i", "s", "f", "C"):
            fail("unknown phase %r" % ph)
        if e.get("pid") != 1:
            fail("event without pid 1: %r" % e)
        if ph == "M":
            if e["name"] == "thread_name":
                named[e["tid"]] = e["args"]["name"]
            continue
        if ph != "C":
            used_tids.add(e["tid"])
        ts = e["ts"]
        if not isinstance(ts, (int, float)) or ts < 0:
            fail("bad ts in %r" % e)
        if ph == "X":
            dur = e["dur"]
            if dur < 0:
                fail("negative dur in %r" % e)
            slices[e["tid"]].append((ts, ts + dur, e))
            seen.add("cat:" + e["cat"])
            if e["cat"] == "fiber":
                for key in ("g", "site", "func", "from", "end"):
                    if key not in e["args"]:
                        fail("fiber slice without args.%s: %r" % (key, e))
                seen.add("from:" + e["args"]["from"])
        elif ph == "i":
            seen.add(e["name"])
        elif ph in ("s", "f"):
            if ph == "f" and e.get("bp") != "e":
                fail("flow finish without bp=e: %r" % e)
            if ph in flows[e["id"]]:
                fail("two flow %s events with id %r" % (ph, e["id"]))
            flows[e["id"]][ph] = e
            seen.add(e["name"])
        elif ph == "C":
            seen.add("counter:" + e["name"])

    for tid in used_tids:
        if tid not in named:
            fail("lane %r has events but no thread_name" % tid)
    nslices = 0
    for tid, v in slices.items():
        v.sort(key=lambda x: (x[0], x[1]))
        nslices += len(v)
        for a, b in zip(v, v[1:]):
            # Rounded to the nanosecond: allow equality.
            if a[1] > b[0] + 0.0005:
                fail("slices overlap on lane %s: %r and %r" % (named.get(tid), a[2], b[2]))
    print("check_trace: %d events, %d slices on %d lanes, no overlaps" % (len(events), nslices, len(slices)))

    begins = {tid: [a for a, _, _ in v] for tid, v in slices.items()}

    def inside(tid, ts):
        # Slices on a lane do not overlap: only the last one starting at
        # or before ts can hold it.
        i = bisect.bisect_right(begins.get(tid, []), ts + 0.0005) - 1
        return i >= 0 and slices[tid][i][1] + 0.0005 >= ts

    def starts(tid, ts):
        v = begins.get(tid, [])
        i = bisect.bisect_left(v, ts - 0.0005)
        return i < len(v) and v[i] <= ts + 0.0005

    for fid, pair in flows.items():
        if set(pair) != {"s", "f"}:
            fail("flow %r has only %r" % (fid, list(pair)))
        s, f = pair["s"], pair["f"]
        if s["name"] != f["name"]:
            fail("flow %r changes name" % fid)
        if not inside(s["tid"], s["ts"]):
            fail("flow %r starts outside every slice of its lane: %r" % (fid, s))
        if not starts(f["tid"], f["ts"]):
            fail("flow %r ends where no slice starts: %r" % (fid, f))
        if f["ts"] + 0.0005 < s["ts"]:
            fail("flow %r goes back in time" % fid)
    print("check_trace: %d flow arrows, each joining two slices" % len(flows))

    if fibers_file:
        with open(fibers_file) as f:
            want = {int(x) for x in f.read().split()}
        ran = {e["args"]["g"] for v in slices.values() for _, _, e in v if e["cat"] == "fiber"}
        missing = want - ran
        if missing:
            fail("%d fibers without a run, e.g. %r" % (len(missing), sorted(missing)[:5]))
        print("check_trace: all %d fibers have runs" % len(want))
        if spawned:
            first = {}  # fiber -> (start, lane) of its first run
            for tid, v in slices.items():
                for a, _, e in v:
                    g = e["args"].get("g") if e["cat"] == "fiber" else None
                    if g in want and (g not in first or a < first[g][0]):
                        first[g] = (a, tid)
            ends = defaultdict(list)  # lane -> finish times of spawn arrows
            for pair in flows.values():
                if pair["f"]["name"] == "spawn":
                    ends[pair["f"]["tid"]].append(pair["f"]["ts"])
            lost = [g for g, (a, tid) in first.items() if not any(abs(t - a) <= 0.0005 for t in ends[tid])]
            if lost:
                fail("%d fibers whose first run no spawn arrow reaches, e.g. %r" % (len(lost), sorted(lost)[:5]))
            print("check_trace: every one's first run is reached by a spawn arrow")
    if site:
        if not any(e["cat"] == "fiber" and e["args"]["site"].endswith(site)
                   for v in slices.values() for _, _, e in v):
            fail("no fiber slice with site ending in %r" % site)
        print("check_trace: a fiber created at %s" % site)
    for n in need:
        if n not in seen:
            fail("nothing of %r in the trace (saw %s)" % (n, sorted(seen)))
    if need:
        print("check_trace: found " + ", ".join(need))
    print("check_trace: ok")


main()
