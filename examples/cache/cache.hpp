// A groupcache-style loader-backed cache: values come from a loader (a
// database, another service), are kept for a time-to-live, and a miss is
// loaded once however many fibers ask for the key at the same moment:
// the loads go through goro::singleflight.
//
//   cache<std::string> c([](const goro::context& ctx, const std::string& key) { return fetch(ctx, key); },
//                        std::chrono::seconds(30));
//   std::string v = c.get(ctx, "user:42");
//
// A caller whose context ends stops waiting (goro::context_done_error);
// the load goes on for the others, and is cancelled (its context) only
// when every caller has left. A loader's exception reaches every caller of
// that load and nothing is cached. The cache must outlive the loads it
// started (they run in fibers of their own).
#pragma once

#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace example {

template <class V>
class cache {
 public:
  using clock = std::chrono::steady_clock;
  using loader = std::function<V(const goro::context&, const std::string&)>;

  // `now` is the clock the expiry uses (a test passes a fake one).
  cache(loader load, clock::duration ttl, std::function<clock::time_point()> now = &clock::now)
      : load_(std::move(load)), ttl_(ttl), now_(std::move(now)) {}
  cache(const cache&) = delete;
  cache& operator=(const cache&) = delete;

  V get(const goro::context& ctx, const std::string& key) {
    if (auto v = lookup(key)) {
      hits_.fetch_add(1, std::memory_order_relaxed);  // a statistic only
      return *v;
    }
    return flights_.do_call(ctx, key, [this, key](const goro::context& load_ctx) {
                     // Looked up again inside the flight: a flight for key
                     // that ended between our miss and do_call has stored
                     // the value, and must not be loaded twice.
                     if (auto hit = lookup(key)) return *hit;
                     loads_.fetch_add(1, std::memory_order_relaxed);  // a statistic only
                     V v = load_(load_ctx, key);
                     std::lock_guard<goro::shared_mutex> l(mu_);
                     entries_.insert_or_assign(key, entry{v, now_() + ttl_});
                     return v;
                   })
        .value;
  }

  // Drops key: the next get loads it again.
  void invalidate(const std::string& key) {
    std::lock_guard<goro::shared_mutex> l(mu_);
    entries_.erase(key);
  }

  std::uint64_t loads() const noexcept { return loads_.load(std::memory_order_relaxed); }
  std::uint64_t hits() const noexcept { return hits_.load(std::memory_order_relaxed); }

 private:
  std::optional<V> lookup(const std::string& key) {
    std::shared_lock<goro::shared_mutex> l(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || !(now_() < it->second.expires)) return std::nullopt;
    return it->second.value;
  }

  struct entry {
    V value;
    clock::time_point expires;
  };
  loader load_;
  clock::duration ttl_;
  std::function<clock::time_point()> now_;
  goro::shared_mutex mu_;
  std::unordered_map<std::string, entry> entries_;  // under mu_
  goro::singleflight<std::string, V> flights_;
  std::atomic<std::uint64_t> loads_{0}, hits_{0};
};

}  // namespace example
