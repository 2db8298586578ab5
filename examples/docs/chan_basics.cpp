// examples/docs/chan_basics.cpp: make, send, receive, close, range, nil.
#include <goro/goro.hpp>

#include <cstdio>

int main() {
  return goro::run([] {
    goro::chan<int> unbuffered;  // make(chan int): a new channel, not nil
    goro::chan<int> buffered(3);  // make(chan int, 3)
    goro::chan<int> nil{nullptr};  // var nil chan int
    goro::go([buffered]() mutable {  // a copy shares the channel
      for (int i = 0; i < 5; i++) buffered.send(i);  // buffered <- i
      buffered.close();  // close(buffered)
    });
    int sum = 0;
    for (int v : buffered) sum += v;  // for v := range buffered
    std::optional<int> v = buffered.recv();  // v, ok := <-buffered
    if (v) return 1;  // closed and drained: ok == false
    if (unbuffered.try_send(7)) return 1;  // no receiver waits
    if (nil || !unbuffered) return 1;  // only a nil handle is false
    std::printf("sum %d, len %zu, cap %zu\n", sum, buffered.size(), buffered.capacity());
    return sum == 10 ? 0 : 1;
  });
}
