// examples/docs/defer_raii.cpp: defer becomes a destructor.
#include <goro/goro.hpp>

#include <cstdio>
#include <mutex>
#include <utility>

// A minimal scope guard: runs f when the scope ends, also by an exception.
template <class F>
struct deferred {
  F f;
  ~deferred() { f(); }
};
template <class F>
deferred(F) -> deferred<F>;

int main() {
  return goro::run([] {
    goro::mutex mu;
    goro::wait_group wg;
    int closed = 0;
    wg.add(1);
    goro::go([&] {
      deferred done{[&] { wg.done(); }};         // defer wg.Done()
      std::lock_guard<goro::mutex> lock(mu);     // mu.Lock(); defer mu.Unlock()
      std::FILE* f = std::tmpfile();
      if (!f) return;
      deferred close_file{[&] { std::fclose(f); closed++; }};  // defer f.Close()
      std::fputs("hello\n", f);
    });
    wg.wait();
    std::lock_guard<goro::mutex> lock(mu);
    return closed == 1 ? 0 : 1;
  });
}
