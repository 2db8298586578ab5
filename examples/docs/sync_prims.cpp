// examples/docs/sync_prims.cpp: Go's sync package and a semaphore.
#include <goro/goro.hpp>

#include <cstdio>
#include <mutex>
#include <shared_mutex>

int main() {
  return goro::run([] {
    goro::mutex mu;                 // sync.Mutex
    goro::shared_mutex rw;          // sync.RWMutex
    goro::once_flag once;           // sync.Once
    goro::condition_variable cond;  // sync.Cond (with mu as its Locker)
    goro::semaphore slots(2);       // x/sync/semaphore, 2 units
    goro::wait_group wg;            // sync.WaitGroup
    int counter = 0, inits = 0, table = 0;
    bool ready = false;

    for (int i = 0; i < 8; i++) {
      wg.add(1);
      goro::go([&] {
        goro::call_once(once, [&] { inits++; });  // once.Do(f)
        slots.acquire();                           // at most 2 fibers past here
        {
          std::lock_guard<goro::mutex> l(mu);      // mu.Lock(); defer mu.Unlock()
          counter++;
        }
        {
          std::shared_lock<goro::shared_mutex> r(rw);  // rw.RLock()
          const int seen = table;
          (void)seen;
        }
        slots.release();
        std::unique_lock<goro::mutex> l(mu);
        cond.wait(l, [&] { return ready; });       // for !ready { cond.Wait() }
        l.unlock();  // before done(): main destroys mu once wait() returns
        wg.done();
      });
    }
    {
      std::lock_guard<goro::shared_mutex> w(rw);   // rw.Lock()
      table = 1;
    }
    {
      std::lock_guard<goro::mutex> l(mu);
      ready = true;
    }
    cond.notify_all();                             // cond.Broadcast()
    wg.wait();
    std::printf("counter %d, inits %d\n", counter, inits);
    return counter == 8 && inits == 1 ? 0 : 1;
  });
}
