// What the kernel says a thread of this process is doing, from
// /proc/self/task/<tid>/stat (proc(5): the state letter follows the command
// name in parentheses).
//
// sysmon uses it to tell a thread asleep in the kernel (a blocking call
// nobody wrapped in goro::blocking) from one that is runnable but not on a
// CPU (the machine is busy): the first has no use for its P, the second
// will use it as soon as it runs.
#pragma once

#include <sys/types.h>

namespace goro::rt {

enum class kernel_thread_state : char {
  unknown,   // no such thread, or /proc unreadable
  running,   // R: on a CPU or waiting for one
  sleeping,  // S (interruptible) or D (uninterruptible, e.g. disk I/O)
  other,     // stopped, traced, zombie, ...
};

// Reads the file once (open, read, close: about ten microseconds). Safe to
// call from any thread; tid must be a thread of this process.
kernel_thread_state read_kernel_thread_state(pid_t tid) noexcept;

// Threads in this process (the Threads: line of /proc/self/status), or -1
// when it cannot be read.
int process_thread_count() noexcept;

}  // namespace goro::rt
