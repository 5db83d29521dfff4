// Writers and a scraper at once: every scrape parses, counters and
// histogram counts never go backwards, `_count` always equals the +Inf
// bucket, and the final totals are exact.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "text_parser.hpp"
#include "vigil/detail/cells.hpp"
#include "vigil/registry.hpp"

namespace {

using vigil::detail::Cell;
using vigil::detail::CellArena;
using vigil::detail::exclusive_cells;
using vigil::detail::SeriesCells;

// Blocks the caller until `step` reaches `value` (set by another thread).
void wait_for(const std::atomic<int>& step, int value) {
  while (step.load() < value) std::this_thread::yield();
}

TEST(Concurrency, WritersAndAScraperAgree) {
  vigil::Registry registry;
  auto& counters = registry.counter("ops_total", "Ops.", {"worker"});
  auto& shared_counter = registry.counter("shared_total", "Shared.");
  auto& latency = registry.histogram("op_seconds", "Latency.", {}, {0.5, 1.5});
  auto& in_flight = registry.gauge("in_flight", "In flight.");

  constexpr int kThreads = 4;
  constexpr int kIterations = 200000;
  std::atomic<int> running{kThreads};
  std::atomic<int> halfway{0};
  std::atomic<int> resumed{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      vigil::Counter mine = counters.with({std::to_string(t)});
      vigil::Counter shared = shared_counter.with({});
      vigil::Histogram hist = latency.with({});
      vigil::Gauge gauge = in_flight.with({});
      for (int i = 0; i < kIterations; ++i) {
        if (i == kIterations / 2) {
          // Halfway, wait (holding the row) for the scrape in the middle.
          halfway.fetch_add(1);
          wait_for(resumed, 1);
        }
        gauge.inc();
        mine.inc();
        shared.inc();
        hist.observe(i % 3);  // 0 -> le 0.5, 1 -> le 1.5, 2 -> +Inf
        gauge.dec();
      }
      running.fetch_sub(1);
    });
  }

  std::map<std::string, double> last;
  std::string body;
  auto check_scrape = [&] {
    body.clear();
    registry.write(body, vigil::ExpositionFormat::kOpenMetrics);
    const auto parsed = vigil_test::parse_exposition(body);
    ASSERT_TRUE(parsed.has_eof);
    double inf_bucket = -1;
    double count = -1;
    for (const auto& s : parsed.samples) {
      const std::string key = vigil_test::sample_key(s);
      if (s.name == "in_flight") continue;
      auto it = last.find(key);
      if (it != last.end()) {
        ASSERT_GE(s.value, it->second) << key;
      }
      last[key] = s.value;
      if (s.name == "op_seconds_bucket" && s.labels.at("le") == "+Inf") {
        inf_bucket = s.value;
      }
      if (s.name == "op_seconds_count") count = s.value;
    }
    ASSERT_EQ(inf_bucket, count);
  };
  const auto shared_value = [&] {
    return last[vigil_test::sample_key(
        vigil_test::Sample{"shared_total", {}, 0})];
  };
  // Scrapes while every writer runs, one exact scrape while all of them
  // are paused halfway with their rows held, then scrapes to the end.
  while (halfway.load() < kThreads) check_scrape();
  check_scrape();
  EXPECT_EQ(shared_value(), kThreads * (kIterations / 2));
  resumed = 1;
  while (running.load() > 0) check_scrape();
  for (auto& w : writers) w.join();
  check_scrape();
  EXPECT_EQ(shared_value(), kThreads * kIterations);

  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(counters.with({std::to_string(t)}).value(), kIterations);
  }
  EXPECT_EQ(shared_counter.with({}).value(), kThreads * kIterations);
  const auto snap = latency.with({}).snapshot();
  EXPECT_EQ(snap.count, static_cast<std::uint64_t>(kThreads * kIterations));
  // Per thread, i % 3 == 0 for ceil(n/3) values of i and == 1 for
  // ceil((n-1)/3).
  const std::uint64_t zeros = (kIterations + 2) / 3;
  const std::uint64_t ones = (kIterations + 1) / 3;
  EXPECT_EQ(snap.cumulative[0], kThreads * zeros);
  EXPECT_EQ(snap.cumulative[1], kThreads * (zeros + ones));
  EXPECT_EQ(in_flight.with({}).value(), 0);
}

TEST(Concurrency, SeriesCreatedWhileScrapingAreAllExported) {
  vigil::Registry registry;
  auto& family = registry.counter("created_total", "Created.", {"id"});
  std::atomic<bool> done{false};
  std::thread creator([&] {
    for (int i = 0; i < 3000; ++i) family.with({std::to_string(i)}).inc();
    done = true;
  });
  std::string body;
  while (!done.load()) {
    body.clear();
    registry.write(body, vigil::ExpositionFormat::kPrometheusText);
    ASSERT_NO_THROW(vigil_test::parse_exposition(body));
  }
  creator.join();
  EXPECT_EQ(vigil_test::parse_exposition(registry.scrape()).samples.size(),
            3000u);
}

// The rows a registry's arena leases: one writer per row, given back when
// the thread exits, and never confused with another arena's.
TEST(RowLeases, LiveThreadsHoldDistinctRowsAndTheRestShare) {
  CellArena arena;
  SeriesCells series;
  const unsigned rows = vigil::detail::stripe_count();
  std::atomic<int> arrived{0};
  std::atomic<int> release{0};
  std::vector<Cell*> mine(rows + 1);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t <= rows; ++t) {
    threads.emplace_back([&, t] {
      // One thread at a time, so the last one is the one left over.
      wait_for(arrived, static_cast<int>(t));
      mine[t] = exclusive_cells(arena.rows(), series, 1);
      arrived.fetch_add(1);
      wait_for(release, 1);
    });
  }
  wait_for(arrived, static_cast<int>(rows + 1));
  EXPECT_EQ(arena.rows()->leased(), rows);
  release = 1;
  for (auto& t : threads) t.join();
  const std::set<Cell*> distinct(mine.begin(), mine.begin() + rows);
  EXPECT_EQ(distinct.size(), rows);
  EXPECT_EQ(distinct.count(nullptr), 0u);
  EXPECT_EQ(mine[rows], nullptr);  // no free row: the shared row
  EXPECT_EQ(arena.rows()->leased(), 0u);
}

TEST(RowLeases, AThreadOutlivingItsRegistryLeasesAfreshInTheNextOne) {
  // The next arena may reuse the first one's address; the thread's cached
  // lease must not carry over to it.
  auto first = std::make_unique<CellArena>();
  std::unique_ptr<CellArena> second;
  std::atomic<int> step{0};
  unsigned leased_in_second = 0;
  SeriesCells in_first;
  SeriesCells in_second;
  std::thread thread([&] {
    EXPECT_NE(exclusive_cells(first->rows(), in_first, 1), nullptr);
    step = 1;
    wait_for(step, 2);
    EXPECT_NE(exclusive_cells(second->rows(), in_second, 1), nullptr);
    leased_in_second = second->rows()->leased();
  });
  wait_for(step, 1);
  first.reset();  // the thread still caches its table
  second = std::make_unique<CellArena>();
  step = 2;
  thread.join();
  EXPECT_EQ(leased_in_second, 1u);
  EXPECT_EQ(second->rows()->leased(), 0u);
}

TEST(Concurrency, ThreadsWritingMoreRegistriesThanTheyCacheCountExactly) {
  // Each thread cycles through more registries than its row cache holds,
  // so leases are evicted, given back and taken again all the time.
  constexpr std::size_t kRegistries = vigil::detail::kRowCacheEntries + 2;
  std::vector<std::unique_ptr<vigil::Registry>> registries;
  std::vector<vigil::Counter> counters;
  for (std::size_t r = 0; r < kRegistries; ++r) {
    registries.push_back(std::make_unique<vigil::Registry>());
    counters.push_back(
        registries.back()->counter("ops_total", "Ops.").with({}));
  }
  constexpr int kThreads = 3;
  constexpr int kRounds = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        for (auto& c : counters) c.inc();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& c : counters) EXPECT_EQ(c.value(), kThreads * kRounds);
}

// remove() racing with lookups, updates and scrapes of the same label sets
// (Kafka partitions revoked while consumers still count them): every
// scrape parses, a removed label set comes back instead of going to the
// overflow series, and after the churn every series starts from zero.
TEST(Concurrency, RemoveRacesWithLookupsUpdatesAndScrapes) {
  vigil::Registry registry;
  constexpr int kKeys = 4;
  auto& family = registry.counter("partition_events_total", "Events.",
                                  {"partition"}, {"", kKeys});
  std::atomic<bool> stop{false};
  std::atomic<long> increments{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        family.with({std::to_string((i + t) % kKeys)}).inc();
        increments.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::atomic<long> removals{0};
  threads.emplace_back([&] {
    for (int i = 0; !stop.load(); ++i) {
      if (family.remove({std::to_string(i % kKeys)})) removals.fetch_add(1);
    }
  });
  std::string body;
  for (int scrape = 0; scrape < 200 || removals.load() < 100; ++scrape) {
    body.clear();
    registry.write(body, vigil::ExpositionFormat::kOpenMetrics);
    const auto parsed = vigil_test::parse_exposition(body);
    ASSERT_TRUE(parsed.has_eof);
    for (const auto& sample : parsed.samples) {
      if (sample.name != "partition_events_total") continue;
      // + 2: an increment is counted just after it is made, by 2 threads
      ASSERT_LE(sample.value, increments.load() + 2);
      ASSERT_NE(sample.labels.at("partition"), vigil::kOverflowLabelValue);
    }
  }
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_GE(removals.load(), 100);
  EXPECT_EQ(family.dropped(), 0u);
  EXPECT_LE(family.series_count(), static_cast<std::size_t>(kKeys));
  for (int k = 0; k < kKeys; ++k) family.remove({std::to_string(k)});
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(family.with({std::to_string(k)}).value(), 0);
  }
}

// Threads that exit and are replaced while others keep writing: rows (and
// a series' compact run, which belongs to a row) pass to new threads, and
// no increment is lost, on the series' own rows or the shared one.
TEST(Concurrency, ThreadsExitingAndStartingUnderLoadCountExactly) {
  vigil::Registry registry;
  vigil::Counter counter = registry.counter("work_total", "Work.").with({});
  vigil::Histogram latency =
      registry.histogram("work_seconds", "Work.", {}, {1}).with({});
  constexpr int kPerThread = 20000;
  std::atomic<bool> stop{false};
  std::atomic<long> long_lived{0};
  std::thread steady([&] {
    while (!stop.load()) {
      counter.inc();
      latency.observe(0.5);
      long_lived.fetch_add(1, std::memory_order_relaxed);
    }
  });
  // More threads at once than there are exclusive rows, wave after wave.
  const unsigned wave = vigil::detail::stripe_count() + 2;
  constexpr int kWaves = 6;
  for (int w = 0; w < kWaves; ++w) {
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < wave; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < kPerThread; ++i) {
          counter.inc();
          latency.observe(2);
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  stop = true;
  steady.join();
  const double expected =
      static_cast<double>(kWaves) * wave * kPerThread + long_lived.load();
  EXPECT_EQ(counter.value(), expected);
  const auto snap = latency.snapshot();
  EXPECT_EQ(snap.count, static_cast<std::uint64_t>(expected));
  EXPECT_EQ(snap.cumulative[0], static_cast<std::uint64_t>(long_lived.load()));
}

}  // namespace
