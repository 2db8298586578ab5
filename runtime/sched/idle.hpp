// Idle Ps, idle Ms and the spinning protocol (Go's wakep / startm / stopm /
// handoffp and the "worker thread parking/unparking" essay in proc.go).
//
// The tension: wake too few Ms and runnable fibers wait while CPUs idle;
// wake too many and Ms burn CPU searching for work that is not there, or
// sleep and wake constantly (a futex round trip per fiber).
//
// The protocol. An M is *spinning* while it holds a P, has no work and is
// looking for some (stealing). Then:
//
//  1. Submit. Whoever makes a G runnable (go(), ready()) puts it on a queue,
//     then calls wakep(): if there is an idle P and no spinning M, it starts
//     one spinning M (on an idle P). One spinner is enough: if it finds work
//     it starts another (rule 3), so wake-ups ramp up only as far as the
//     work goes.
//  2. Bound. An M only starts spinning while 2 * nmspinning < busy Ps.
//     (The spinning_limit knob, sched/knobs.hpp, bounds them at n instead,
//     or lets none spin: then wakep wakes an M, uncounted, whenever a P is
//     idle, every M out of work looks for some once, and each that finds
//     none does the dance of rule 4 after putting its P on the idle list,
//     pairing with wakep's read of npidle rather than nmspinning.)
//  3. Hand on. A spinning M that finds work stops spinning and calls
//     wakep(), so there may be more work for another spinner.
//  4. Delicate dance. A spinning M that finds nothing puts its P on the idle
//     list, decrements nmspinning, and only *then* looks at every P's queue
//     and the global queue once more, re-acquiring a P and spinning again if
//     one has work. (The global queue matters: threads outside the runtime
//     queue there and also rely on a spinner they see.)
//
// Why no wake-up is lost: a submitter does (a) publish G, (b) read
// npidle/nmspinning; a spinner going idle does (c) increment npidle,
// decrement nmspinning, (d) read the queues. All four are seq_cst (the
// counters are seq_cst RMWs and loads; the run queue tail store is a
// release, followed in wakep by a seq_cst fence), so either the submitter
// sees the spinner gone and wakes an M, or the spinner sees the G. This is
// the StoreLoad pair Go's comment calls "the delicate dance".
//
// Idle Ms sleep on their note (a futex): no CPU is used while idle.
#pragma once

#include <cstdint>

#include "sched/p.hpp"

namespace goro::rt {

struct M;
struct runtime;

// Submit (rule 1): start a spinning M on an idle P if there is an idle P
// and no spinning M. Call after making a G runnable.
void wakep(runtime* rt);
// Start an M on p (an idle P if null): an idle M, else a new one. With
// `spinning`, the caller has already counted it in nmspinning.
void startm(runtime* rt, P* p, bool spinning);
// m (running or spare, no P) goes idle until someone hands it a P. False:
// the runtime is done, exit the thread.
bool stopm(M* m);
// p was taken from its M (sysmon): start an M for it if there is work, else
// put it on the idle list.
void handoffp(runtime* rt, P* p);
// checkdead found fibers left blocked when main returned (sched lock held,
// every M idle): take an idle M and an idle P and wake the M with
// M::unwind set; stopm, once it holds the P, runs unwind_leftovers
// (sched/leftover.hpp). The M may be the caller's own (stopm's checkdead):
// its sleep then returns at once.
void start_unwind_locked(runtime* rt);
// Wake an idle M that whoever calls this took off the idle list (its note;
// and its poll, if it is the timed sleeper blocked in epoll_wait).
void wake_m(M* m) noexcept;
// The runtime's first descriptor was opened: make an idle M the polling
// timed sleeper (retime a timed sleeper that sleeps on its note, or wakep
// when there is none; poll/netpoll.hpp).
void netpoll_kick(runtime* rt);
// m found work while spinning: stop spinning, and wake another spinner in
// case there is more (rule 3).
void reset_spinning(M* m);
// m (running, holding a P, out of work, not spinning) wants to steal: true
// if it may, counted as spinning when the rules let it (rule 2, or the
// spinning_limit knob's bound). With the knob at 0 no M spins: true, and m
// looks for work once without being counted.
bool may_steal(M* m);
// The delicate dance found work for m, which stopped spinning and took a P
// again: spin again (Go's rule: always; with a bound, if it is not reached:
// then the spinners counted will find the work; with no spinning, never).
void respin(M* m);

// The idle lists (sched lock held). pidleput puts p, in state `from`, on
// the idle P list; pidleget takes any idle P; pidleremove a given one.
void pidleput(runtime* rt, P* p, pstatus from);
P* pidleget(runtime* rt);
bool pidleremove(runtime* rt, P* p);
// At start: every P (state idle) on the idle list, P0 on top.
void pidle_init(runtime* rt);
// Take m off the idle M list if it is there.
bool mremove(runtime* rt, M* m);

// checkdead found every fiber dead (or a deadlock in throw mode): wake
// every idle M to exit. The sched lock is held.
void finish_locked(runtime* rt);

}  // namespace goro::rt
