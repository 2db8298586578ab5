// The maps of examples/concurrent_map/maps.hpp, shared between many fibers:
// a mixed workload whose final contents are known exactly, readers that
// share a goro::shared_mutex, and the sharded map's choice of shard.
#include <gtest/gtest.h>

#include <goro/goro.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <unordered_map>
#include <vector>

#include "concurrent_map/maps.hpp"
#include "runtime_fixture.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using goro_test::scaled;

using shared_map = concurrent_map::shared_map<long, long>;
using sharded_map = concurrent_map::sharded_map<long, long>;  // 16 shards, goro::mutex
using sharded_rw_map = concurrent_map::sharded_map<long, long, 8, goro::shared_mutex>;

using ConcurrentMap = goro_test::RuntimeTest;
INSTANTIATE_TEST_SUITE_P(Procs, ConcurrentMap, ::testing::Values(1, 4), ::goro_test::procs_name);

// 32 fibers run a fixed sequence of operations each, on two sets of keys:
//   - shared keys (0..15), which every fiber reads and increments by one
//     (update, which now and then yields between its read and its write);
//     the final value of each is the number of increments the sequences
//     make on it;
//   - each fiber's own keys (1000 + 16 f ...), which only that fiber
//     inserts, updates and erases, mirroring each step in a local
//     std::unordered_map; every answer the map gives (insert's and
//     erase's results, get) must match the mirror at that step, and the
//     mirror is what must be left at the end.
// All of it goes through one map at once, so the owners' operations race
// with everyone's on the same locks (and shards).
template <class Map>
void mixed_workload(const goro::options& opts) {
  goro::run(opts, [] {
    constexpr int fibers = 32, shared_keys = 16, own_keys = 16;
    const int per = static_cast<int>(scaled(20000));
    Map map;
    for (long k = 0; k < shared_keys; k++) map.put(k, 0);
    std::vector<std::unordered_map<long, long>> mirrors(fibers);  // each fiber's own, until wg.wait()
    std::atomic<int> mismatches{0};
    goro::wait_group wg;
    wg.add(fibers);
    for (int f = 0; f < fibers; f++)
      goro::go([&, f] {
        std::unordered_map<long, long>& mine = mirrors[f];
        for (int i = 0; i < per; i++) {
          const long shared = (f * 7L + i * 13L) % shared_keys;
          const long own = 1000 + f * own_keys + (i * 5L) % own_keys;
          switch ((f + i) % 5) {
            case 0:
              if (i % 32 == 0)  // now and then, park between the read and the write
                map.update(shared, [](long& v) {
                  const long seen = v;
                  goro::this_fiber::yield();  // allowed: a goro lock is a fiber lock
                  v = seen + 1;
                });
              else
                map.update(shared, [](long& v) { v++; });
              break;
            case 1: {
              const std::optional<long> v = map.get(shared);
              if (!v || *v < 0) mismatches++;
              break;
            }
            case 2:
              if (map.insert(own, i) != mine.try_emplace(own, i).second) mismatches++;
              break;
            case 3:
              map.update(own, [i](long& v) { v += i; });  // value-initialised (0) if absent, as mine[own]
              mine[own] += i;
              break;
            case 4:
              if (map.erase(own) != (mine.erase(own) != 0)) mismatches++;
              break;
          }
          if (i % 3 == 0) {
            const std::optional<long> v = map.get(own);
            const auto it = mine.find(own);
            if (v.has_value() != (it != mine.end()) || (v && *v != it->second)) mismatches++;
          }
          if (i % 64 == 0) goro::this_fiber::yield();
        }
        wg.done();
      });
    wg.wait();
    EXPECT_EQ(mismatches.load(), 0);

    std::unordered_map<long, long> expected;
    long increments = 0;
    for (long k = 0; k < shared_keys; k++) expected[k] = 0;
    for (int f = 0; f < fibers; f++)
      for (int i = 0; i < per; i++)
        if ((f + i) % 5 == 0) {
          expected[(f * 7L + i * 13L) % shared_keys]++;
          increments++;
        }
    for (const auto& mine : mirrors)
      for (const auto& [k, v] : mine) expected[k] = v;

    const std::unordered_map<long, long> got = map.snapshot();
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_EQ(map.size(), expected.size());
    long sum = 0;
    for (long k = 0; k < shared_keys; k++) sum += got.count(k) ? got.at(k) : 0;
    EXPECT_EQ(sum, increments);
    EXPECT_TRUE(got == expected) << "the map's final contents differ from the expected ones";
  });
}

TEST_P(ConcurrentMap, SharedMapMixedOperationsEndExact) { mixed_workload<shared_map>(opts()); }
TEST_P(ConcurrentMap, ShardedMapMixedOperationsEndExact) { mixed_workload<sharded_map>(opts()); }
TEST_P(ConcurrentMap, ShardedRwMapMixedOperationsEndExact) { mixed_workload<sharded_rw_map>(opts()); }

// Two readers of one key are inside read() together: reader A enters and
// tells B (a channel); B enters while A is still inside and tells A, which
// waits for that, up to 10 s, before it leaves. Were readers exclusive, B
// would enter only after A gave up: A's wait times out and B sees itself
// alone.
template <class Map>
void readers_share(const goro::options& opts) {
  goro::run(opts, [] {
    Map map;
    map.put(1, 10);
    goro::chan<int> a_inside(1), b_inside(1);
    std::atomic<int> inside{0};
    int b_saw = 0;
    std::size_t a_woken_by = 99;
    long a_read = 0, b_read = 0;
    goro::wait_group wg;
    wg.add(2);
    goro::go([&] {
      map.read(1, [&](const long* v) {
        a_read = v ? *v : -1;
        ++inside;
        a_inside.send(1);
        // Blocking on a channel with a goro lock held is allowed (it is a
        // fiber lock); this is what the test needs, not a pattern to copy.
        a_woken_by = goro::select(goro::on_recv(b_inside), goro::on_recv(goro::after(10s)));
        --inside;
      });
      wg.done();
    });
    goro::go([&] {
      a_inside.recv();
      map.read(1, [&](const long* v) {
        b_read = v ? *v : -1;
        b_saw = ++inside;
        b_inside.send(1);
        --inside;
      });
      wg.done();
    });
    wg.wait();
    EXPECT_EQ(a_woken_by, 0u) << "reader A timed out: B could not enter while A held the read lock";
    EXPECT_EQ(b_saw, 2);
    EXPECT_EQ(a_read, 10);
    EXPECT_EQ(b_read, 10);
  });
}

TEST_P(ConcurrentMap, SharedMapReadersDoNotExcludeEachOther) { readers_share<shared_map>(opts()); }
TEST_P(ConcurrentMap, ShardedRwMapReadersDoNotExcludeEachOther) { readers_share<sharded_rw_map>(opts()); }

// The shard of a key: consecutive keys, and keys that are all multiples of
// the shard count, spread over every shard (the hash is mixed first).
TEST(ConcurrentMapShards, KeysSpreadOverEveryShard) {
  for (const long stride : {1L, 16L, 1L << 20}) {
    std::vector<int> per_shard(16);
    for (long k = 0; k < 256; k++) per_shard.at(sharded_map::shard_of(k * stride))++;
    for (int s = 0; s < 16; s++) {
      EXPECT_GE(per_shard[s], 8) << "stride " << stride << ", shard " << s;
      EXPECT_LE(per_shard[s], 24) << "stride " << stride << ", shard " << s;
    }
  }
}

}  // namespace
