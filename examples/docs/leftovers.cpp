// examples/docs/leftovers.cpp: "first reply wins"; the losers are unwound when main returns.
#include <goro/goro.hpp>

#include <atomic>
#include <cstdio>

std::atomic<int> unwound{0};

struct note_unwind {
  ~note_unwind() { unwound++; }  // runs as a cancelled fiber unwinds
};

int main() {
  const int first = goro::run([] {
    goro::chan<int> replies;  // unbuffered: only one reply is ever received
    for (int i = 0; i < 3; i++) {
      goro::go([replies](int id) mutable {
        note_unwind guard;
        try {
          replies.send(id);  // the losers block here forever
        } catch (const std::exception&) {
          // goro::fiber_cancelled is not a std::exception: it passes by.
        }
      }, i);
    }
    return *replies.recv();
  });  // Go would exit here; goro unwinds the two senders, then returns
  std::printf("first reply from %d, %d fibers ended\n", first, unwound.load());
  return unwound == 3 ? 0 : 1;
}
