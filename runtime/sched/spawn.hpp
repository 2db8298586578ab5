// Creating fibers (Go's newproc). The public entry points are
// goro::detail::spawn_prepare / spawn_commit / spawn_abort
// (goro/detail/spawn.hpp); run_main starts the main fiber with prepare_fiber.
#pragma once

namespace goro::rt {

struct G;
struct P;
struct runtime;

// Give g (entry, entry_arg, created_at set) an id and a fresh context, count
// it live and mark it runnable (the caller queues it). The stack starts
// below `top`. p: the caller's P for id batches, or null.
void prepare_fiber(runtime* rt, P* p, G* g, void* top);

}  // namespace goro::rt
