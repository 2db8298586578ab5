// examples/docs/shared_map.cpp: a map under a goro::shared_mutex; copy out, release, then block.
#include <goro/goro.hpp>

#include <cstdio>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>

// Go's `struct { mu sync.RWMutex; names map[int]string }`.
class directory {
 public:
  std::optional<std::string> get(int id) const {
    std::shared_lock<goro::shared_mutex> r(mu_);  // mu.RLock(): readers share it
    auto it = names_.find(id);
    if (it == names_.end()) return std::nullopt;
    return it->second;  // a copy: the caller uses it after the lock is released
  }
  void put(int id, std::string name) {
    std::lock_guard<goro::shared_mutex> w(mu_);  // mu.Lock(): a writer has it alone
    names_.insert_or_assign(id, std::move(name));
  }

 private:
  mutable goro::shared_mutex mu_;
  std::unordered_map<int, std::string> names_;
};

int main() {
  return goro::run([] {
    directory dir;
    for (int id = 0; id < 10; id++) dir.put(id, "fiber " + std::to_string(id));
    goro::chan<std::string> out;  // unbuffered: each send waits for main
    goro::wait_group wg;
    for (int id = 0; id < 10; id++) {
      wg.add(1);
      goro::go([&, id] {
        std::optional<std::string> name = dir.get(id);  // lock, copy out, unlock
        out.send(name.value_or("?"));                   // then block, holding no lock
        wg.done();
      });
    }
    goro::go([&wg, out]() mutable {
      wg.wait();
      out.close();
    });
    int found = 0;
    for (const std::string& name : out) found += name != "?";
    std::printf("%d names\n", found);
    return found == 10 ? 0 : 1;
  });
}
