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
using vigil::detail::exclusive_run;

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
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      vigil::Counter mine = counters.with({std::to_string(t)});
      vigil::Counter shared = shared_counter.with({});
      vigil::Histogram hist = latency.with({});
      vigil::Gauge gauge = in_flight.with({});
      for (int i = 0; i < kIterations; ++i) {
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
  int scrapes = 0;
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
    ++scrapes;
  };
  while (running.load() > 0) check_scrape();
  for (auto& w : writers) w.join();
  check_scrape();

  EXPECT_GT(scrapes, 0);
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
  Cell* run = arena.allocate(1);
  const unsigned rows = vigil::detail::stripe_count();
  std::atomic<int> arrived{0};
  std::atomic<int> release{0};
  std::vector<Cell*> mine(rows + 1);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t <= rows; ++t) {
    threads.emplace_back([&, t] {
      // One thread at a time, so the last one is the one left over.
      wait_for(arrived, static_cast<int>(t));
      mine[t] = exclusive_run(arena.rows(), run);
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
  std::thread thread([&] {
    EXPECT_NE(exclusive_run(first->rows(), first->allocate(1)), nullptr);
    step = 1;
    wait_for(step, 2);
    EXPECT_NE(exclusive_run(second->rows(), second->allocate(1)), nullptr);
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

}  // namespace
