// Stack overflow reports: a SIGSEGV on a fiber's guard region prints which
// fiber overflowed (id, creation site, stack size) before the process dies.
// The handler runs on a per-M alternate signal stack.
#pragma once

namespace goro::rt {

struct M;

// Once per process: the handler finds the faulting fiber through the
// faulting thread's M, so it serves every runtime. Signals it does not
// own go to the handler installed before it.
void install_overflow_handler();
// Per M, on its own thread (minit / mexit).
void install_altstack(M* m);
void remove_altstack(M* m);

}  // namespace goro::rt
