// Maps shared between fibers (docs/go-guide.md, "Maps shared between
// fibers"): a read-mostly table under a goro::shared_mutex and a
// write-heavy table split into shards, both from maps.hpp.
//
// 64 fibers serve 1000 requests each. A request looks its user up in
// `users` (read-mostly: a shared_map), counts a hit for its page in `hits`
// (every request writes: a sharded_map), and sends a reply on a channel.
// The reply is sent after the map's lock is released: get() copies the
// value out, so no fiber blocks while it holds a lock.
//   ./build/examples/concurrent_map
#include <goro/goro.hpp>

#include <cstdio>
#include <string>

#include "maps.hpp"

int main() {
  constexpr int workers = 64, requests = 1000, users_n = 100, pages = 40;
  return goro::run([] {
    concurrent_map::shared_map<int, std::string> users;
    concurrent_map::sharded_map<std::string, long> hits;
    for (int u = 0; u < users_n; u++) users.put(u, "user" + std::to_string(u));

    goro::chan<std::string> replies(256);
    goro::wait_group wg;
    for (int w = 0; w < workers; w++) {
      wg.add(1);
      goro::go([&, w] {
        for (int r = 0; r < requests; r++) {
          const int user = (w * 31 + r) % users_n;
          const std::string page = "/page/" + std::to_string((w + r * 7) % pages);
          // Copy out, release, then block: the lock is not held while the
          // send below waits for room in the channel.
          std::optional<std::string> name = users.get(user);
          hits.update(page, [](long& n) { n++; });
          if (r % 100 == 0) users.put(user, "user" + std::to_string(user));  // a rare write
          replies.send(page + " for " + name.value_or("nobody"));
        }
        wg.done();
      });
    }
    goro::go([&wg, replies]() mutable {  // its own handle: main's may be gone when close returns
      wg.wait();
      replies.close();
    });

    long received = 0;
    for (const std::string& reply : replies) received += !reply.empty();

    long total = 0;
    for (const auto& [page, n] : hits.snapshot()) total += n;
    std::printf("%ld replies, %ld hits over %zu pages, %zu users\n", received, total, hits.size(), users.size());
    return received == workers * requests && total == received && hits.size() == pages ? 0 : 1;
  });
}
