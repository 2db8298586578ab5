// examples/docs/fiber_local.cpp: thread_local becomes fiber_local or lock_os_thread.
#include <goro/goro.hpp>

#include <cstdio>
#include <string>

goro::fiber_local<std::string> name;  // one std::string per fiber
thread_local int per_thread = 0;      // safe only in a locked fiber

int main() {
  return goro::run([] {
    goro::wait_group wg;
    int ok = 0;
    goro::mutex mu;
    for (int i = 0; i < 4; i++) {
      wg.add(1);
      goro::go([&, i] {
        name.get() = "worker " + std::to_string(i);
        goro::this_fiber::yield();  // may resume on another thread
        const bool same = name.get() == "worker " + std::to_string(i);
        mu.lock();
        ok += same;
        mu.unlock();
        wg.done();
      });  // name's value for this fiber is destroyed when it ends
    }
    wg.add(1);
    goro::go([&] {
      goro::this_fiber::lock_os_thread();  // runtime.LockOSThread()
      per_thread = 7;
      goro::this_fiber::yield();  // still the same thread afterwards
      const bool same = per_thread == 7;
      goro::this_fiber::unlock_os_thread();
      mu.lock();
      ok += same;
      mu.unlock();
      wg.done();
    });
    wg.wait();
    std::printf("%d of 5 fibers kept their state\n", ok);
    return ok == 5 ? 0 : 1;
  });
}
