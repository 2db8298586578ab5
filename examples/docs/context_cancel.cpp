// examples/docs/context_cancel.cpp: context.WithTimeout, WithCancel, WithValue.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <string>

static const goro::context_key<std::string> request_id("request_id");

// Waits for work or for the context, like `select { case <-ctx.Done(): ... }`.
int fetch(const goro::context& ctx, goro::chan<int> results) {
  int got = -1;
  goro::select(goro::on_recv(ctx.done(), [&] { got = 0; }),
               goro::on_recv(results, [&](std::optional<int> v) { got = v.value_or(0); }));
  return got;
}

int main() {
  using namespace std::chrono_literals;
  return goro::run([] {
    auto root = goro::with_value(goro::background(), request_id, std::string("r-42"));
    auto [ctx, cancel] = goro::with_timeout(root, 20ms);  // defer cancel()
    goro::chan<int> results;                               // nobody sends: the timeout wins
    const int got = fetch(ctx, results);
    const bool expired = ctx.err() == goro::context_error::deadline_exceeded;
    std::printf("%s: got %d, err \"%s\"\n", ctx.value(request_id)->c_str(), got, goro::to_string(ctx.err()));
    cancel();  // always call it: it releases the context's timer fiber

    auto [child, stop] = goro::with_cancel(root);
    stop("shutting down");  // cancel with a cause
    std::printf("cause: %s\n", child.cause().c_str());
    return expired && got == 0 && child.err() == goro::context_error::canceled ? 0 : 1;
  });
}
