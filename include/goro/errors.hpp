// The exceptions goro throws for conditions a program may want to catch.
// (Misuse that leaves state corrupt, such as unlocking an unlocked mutex,
// is a fatal error instead: "goro: fatal: where: what", then abort.)
#pragma once

#include <stdexcept>

namespace goro {

// Thrown by a send on a closed channel (also when the channel is closed
// while the sender is blocked, and by a select whose chosen case is a send
// on a closed channel) and by close on a closed or nil channel.
class closed_channel_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Thrown by run() when options::throw_on_deadlock is set and every fiber is
// blocked forever. what() is the deadlock report.
class deadlock_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace goro
