// Writers and a scraper at once: every scrape parses, counters and
// histogram counts never go backwards, `_count` always equals the +Inf
// bucket, and the final totals are exact.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "text_parser.hpp"
#include "vigil/registry.hpp"

namespace {

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

}  // namespace
