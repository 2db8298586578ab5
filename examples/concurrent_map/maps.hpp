// Two maps shared between fibers, built from std::unordered_map and goro's
// locks (no concurrent hash map library): the types that
// examples/concurrent_map/concurrent_map.cpp uses and that
// tests/toolkit/concurrent_map_test.cpp tests. docs/go-guide.md, "Maps
// shared between fibers", says when to use which.
//
//   shared_map<K, V>     one std::unordered_map under a goro::shared_mutex:
//                        readers share it, a writer has it alone. The
//                        default, as Go's map under a sync.RWMutex.
//   sharded_map<K, V>    N such maps ("shards"), each under its own lock,
//                        the shard chosen by the key's hash: fibers that
//                        write different keys mostly take different locks.
//                        For write-heavy maps used by many fibers at once.
//
// Every accessor copies the value out (get returns std::optional<V>), so
// the lock is released before the caller does anything with it, blocking
// included. read() and update() run a function with the lock held: keep it
// short. goro's locks park a waiting fiber, so a function that blocks is
// not an error, but every other fiber that wants the lock (a shard's, for
// sharded_map) waits as long. Nor may it use the same map (or shard)
// again: the lock is not recursive, and a second lock of it from inside
// waits for itself, as in Go.
#pragma once

#include <goro/sync.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

namespace concurrent_map {

// The lock a reader takes: shared where the mutex has a shared mode
// (goro::shared_mutex), exclusive otherwise (goro::mutex).
template <class Mutex>
auto read_lock(Mutex& mu) {
  if constexpr (requires { mu.lock_shared(); })
    return std::shared_lock<Mutex>(mu);
  else
    return std::unique_lock<Mutex>(mu);
}

// A std::unordered_map and the lock that guards it: shared_map is one, a
// sharded_map has N of them.
template <class K, class V, class Hash, class Mutex>
class locked_map {
 public:
  // A copy of the value, or nothing. The lock is released on return.
  std::optional<V> get(const K& key) const {
    auto lock = read_lock(mu_);
    const auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }

  // f(const V*) under the read lock (null when the key is absent); returns
  // what f returns. For reading part of a large value without copying it.
  template <class F>
  auto read(const K& key, F&& f) const {
    auto lock = read_lock(mu_);
    const auto it = map_.find(key);
    return std::forward<F>(f)(it == map_.end() ? static_cast<const V*>(nullptr) : &it->second);
  }

  // Inserts or replaces. True if the key was new.
  bool put(const K& key, V value) {
    std::lock_guard<Mutex> lock(mu_);
    return map_.insert_or_assign(key, std::move(value)).second;
  }

  // Inserts only if absent (Go's LoadOrStore without the load). True if
  // it inserted.
  bool insert(const K& key, V value) {
    std::lock_guard<Mutex> lock(mu_);
    return map_.try_emplace(key, std::move(value)).second;
  }

  // True if the key was there.
  bool erase(const K& key) {
    std::lock_guard<Mutex> lock(mu_);
    return map_.erase(key) != 0;
  }

  // f(V&) under the write lock, on the key's value (value-initialised
  // first if the key is absent): a read-modify-write no other fiber can
  // interleave with. Returns what f returns.
  template <class F>
  auto update(const K& key, F&& f) {
    std::lock_guard<Mutex> lock(mu_);
    return std::forward<F>(f)(map_[key]);
  }

  std::size_t size() const {
    auto lock = read_lock(mu_);
    return map_.size();
  }

  // Adds a copy of every entry to `out`.
  template <class Map>
  void copy_into(Map& out) const {
    auto lock = read_lock(mu_);
    for (const auto& [k, v] : map_) out.insert_or_assign(k, v);
  }

 private:
  mutable Mutex mu_;
  std::unordered_map<K, V, Hash> map_;
};

// 1. The default.
template <class K, class V, class Hash = std::hash<K>>
class shared_map : public locked_map<K, V, Hash, goro::shared_mutex> {
 public:
  // A copy of the whole map, taken at one instant.
  std::unordered_map<K, V, Hash> snapshot() const {
    std::unordered_map<K, V, Hash> out;
    this->copy_into(out);
    return out;
  }
};

// 2. Sharded: Shards maps, each under its own Mutex. goro::mutex (the
// default) is the cheaper lock when most operations write; with
// goro::shared_mutex, readers of one shard share it.
template <class K, class V, std::size_t Shards = 16, class Mutex = goro::mutex, class Hash = std::hash<K>>
class sharded_map {
  static_assert(Shards > 0 && (Shards & (Shards - 1)) == 0, "Shards: a power of two");

 public:
  std::optional<V> get(const K& key) const { return shard(key).get(key); }
  template <class F>
  auto read(const K& key, F&& f) const {
    return shard(key).read(key, std::forward<F>(f));
  }
  bool put(const K& key, V value) { return shard(key).put(key, std::move(value)); }
  bool insert(const K& key, V value) { return shard(key).insert(key, std::move(value)); }
  bool erase(const K& key) { return shard(key).erase(key); }
  template <class F>
  auto update(const K& key, F&& f) {
    return shard(key).update(key, std::forward<F>(f));
  }

  // The sum of the shards' sizes, each read under its own lock: exact only
  // while no fiber writes.
  std::size_t size() const {
    std::size_t n = 0;
    for (const auto& s : shards_) n += s.map.size();
    return n;
  }

  // A copy of every shard, one shard at a time: not one instant's state
  // while other fibers write (each shard's part is consistent).
  std::unordered_map<K, V, Hash> snapshot() const {
    std::unordered_map<K, V, Hash> out;
    for (const auto& s : shards_) s.map.copy_into(out);
    return out;
  }

  // Which shard a key lives in. std::hash of an integer is the integer
  // itself in libstdc++, so the hash is mixed (Fibonacci hashing) and the
  // top bits taken: keys that differ only in high bits, or are all
  // multiples of Shards, still spread over the shards.
  static std::size_t shard_of(const K& key) {
    if constexpr (Shards == 1) {
      return 0;
    } else {
      const std::uint64_t h = static_cast<std::uint64_t>(Hash{}(key)) * 0x9E3779B97F4A7C15ull;
      return static_cast<std::size_t>(h >> (64 - shard_bits));
    }
  }

 private:
  static constexpr int shard_bits = [] {
    int b = 0;
    while ((std::size_t{1} << b) < Shards) b++;
    return b;
  }();
  // One cache line each (at least), so that two shards' locks, written by
  // fibers on different threads, do not share one.
  struct alignas(64) padded {
    locked_map<K, V, Hash, Mutex> map;
  };
  const locked_map<K, V, Hash, Mutex>& shard(const K& key) const { return shards_[shard_of(key)].map; }
  locked_map<K, V, Hash, Mutex>& shard(const K& key) { return shards_[shard_of(key)].map; }

  std::array<padded, Shards> shards_;
};

}  // namespace concurrent_map
