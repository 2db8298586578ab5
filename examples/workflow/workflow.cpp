// Order processing on goro::workflow.
//
// Each order runs as one chain:
//   validate(order) -> charge(order) -> chord(reserve every item, at most two
//   at once; then notify) -> ship
// charge talks to a flaky payment gateway: it fails twice, then succeeds,
// and is retried with backoff. The second order's customer cancels while
// its items are being reserved: the reservation in progress sees its
// context end, and every task not done reports cancelled.
#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace wf = goro::workflow;
using namespace std::chrono_literals;

struct order {
  std::int64_t id;
  std::vector<std::string> items;
  std::int64_t cents;
};

// An order crosses task boundaries as the value [id, [items...], cents].
template <>
struct goro::workflow::value_traits<order> {
  static value to(const order& o) { return value(value::list{o.id, to_value(o.items), o.cents}); }
  static order from(const value& v) {
    const value::list& l = v.as_list();
    if (l.size() != 3) throw workflow_error("order: expected [id, items, cents]");
    return {l[0].as_int(), from_value<std::vector<std::string>>(l[1]), l[2].as_int()};
  }
};

namespace {

// The tree of a run's results: each part's name, state, attempts, outcome.
void show(const wf::async_result& r, int depth = 1) {
  std::string outcome;
  if (r.is_ready()) {
    try {
      outcome = "= " + r.get().to_string();
    } catch (const std::exception& e) {
      outcome = std::string("! ") + e.what();
    }
  }
  std::printf("%*s%-8s %-9s", depth * 2, "", r.name().c_str(), wf::to_string(r.state()));
  if (r.children().empty()) std::printf(" attempts=%d", r.attempts());
  std::printf(" %s\n", outcome.c_str());
  for (const auto& c : r.children()) show(c, depth + 1);
}

wf::flow process(const order& o) {
  std::vector<wf::flow> reservations;
  for (const auto& item : o.items) reservations.push_back(wf::task("reserve", item));
  return wf::chain(wf::task("validate", o),
                   wf::task("charge").retry({.max_retries = 3, .backoff = 5ms, .multiplier = 2, .jitter = 0.2}),
                   wf::chord(wf::group(reservations, 2), wf::task("notify", o.id)),
                   wf::task("ship", o.id));
}

}  // namespace

int main() {
  goro::run([] {
    // Declared before the engine: its tasks use them, and a task of a
    // cancelled run may still be returning while the engine is destroyed.
    std::atomic<int> gateway_calls{0}, reserving{0}, most_reserving{0};
    wf::engine engine(goro::background(), {.concurrency = 4});

    engine.register_task("validate", [](order o) {
      if (o.items.empty()) throw wf::permanent_error("order " + std::to_string(o.id) + " has no items");
      return o;
    });
    engine.register_task("charge", [&](order o) {
      if (++gateway_calls <= 2) throw std::runtime_error("payment gateway timed out");
      char receipt[64];
      std::snprintf(receipt, sizeof receipt, "receipt %lld: $%lld.%02lld", static_cast<long long>(o.id),
                    static_cast<long long>(o.cents / 100), static_cast<long long>(o.cents % 100));
      return std::string(receipt);
    });
    engine.register_task("reserve", [&](const goro::context& ctx, std::string item, std::string receipt) {
      const int now = ++reserving;
      for (int seen = most_reserving.load(); now > seen && !most_reserving.compare_exchange_weak(seen, now);) {
      }
      goro::select(goro::on_recv(goro::after(5ms)), goro::on_recv(ctx.done()));  // the warehouse
      reserving--;
      goro::throw_if_done(ctx);
      return item + " (" + receipt.substr(0, receipt.find(':')) + ")";
    });
    engine.register_task("notify", [](std::int64_t id, std::vector<std::string> reserved) {
      return "order " + std::to_string(id) + ": " + std::to_string(reserved.size()) + " items reserved";
    });
    engine.register_task("ship", [](std::int64_t id, std::string note) {
      return "shipped order " + std::to_string(id) + " after \"" + note + "\"";
    });

    // Order 1001: every step succeeds, the payment on its third attempt.
    const order first{1001, {"kettle", "teapot", "mugs", "tea"}, 4599};
    wf::async_result done = engine.submit(process(first), goro::background());
    std::printf("order 1001: %s\n", done.get().as_string().c_str());
    show(done);
    std::printf("  at most %d reservations ran at once (limit 2)\n\n", most_reserving.load());

    // Order 1002: cancelled once its first item is reserved.
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    const order second{1002, {"lamp", "bulbs", "shade", "cable"}, 8350};
    wf::async_result run = engine.submit(process(second), ctx);
    const wf::async_result& chord = run.children()[2];
    chord.children()[0].children()[0].wait();  // the first reservation
    cancel("customer cancelled order 1002");
    try {
      run.get();
    } catch (const goro::context_done_error& e) {
      std::printf("order 1002: %s\n", e.what());
    }
    show(run);
  });
}
