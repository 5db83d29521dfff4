#include "vigil/counter.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "vigil/registry.hpp"

namespace {

TEST(Counter, StartsAtZeroAndAdds) {
  vigil::Registry registry;
  vigil::Counter c = registry.counter("events_total", "Events.").with({});
  EXPECT_EQ(c.value(), 0);
  c.inc();
  c.inc(2.5);
  EXPECT_DOUBLE_EQ(c.value(), 3.5);
}

TEST(Counter, CopiesShareTheSeries) {
  vigil::Registry registry;
  auto& family = registry.counter("events_total", "Events.");
  vigil::Counter a = family.with({});
  vigil::Counter b = a;
  a.inc();
  b.inc();
  EXPECT_EQ(family.with({}).value(), 2);
}

TEST(Counter, RejectsNegativeAndNonFiniteIncrementsAndCountsThem) {
  vigil::Registry registry;
  auto& family = registry.counter("events_total", "Events.");
  vigil::Counter c = family.with({});
  c.inc(-1);
  c.inc(std::numeric_limits<double>::quiet_NaN());
  c.inc(std::numeric_limits<double>::infinity());
  c.inc(1);
  EXPECT_EQ(c.value(), 1);
  EXPECT_EQ(family.stats().rejected.load(), 3u);
  EXPECT_NE(registry.scrape().find(
                "vigil_updates_rejected_total{metric=\"events_total\"} 3\n"),
            std::string::npos);
}

TEST(Counter, ThreadsBeyondTheStripesStillCountExactly) {
  // More threads than exclusive rows forces some onto the shared row.
  vigil::Registry registry;
  vigil::Counter c = registry.counter("events_total", "Events.").with({});
  const unsigned threads = vigil::detail::stripe_count() + 4;
  constexpr int kPerThread = 10000;
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) c.inc();
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(c.value(), static_cast<double>(threads) * kPerThread);
}

TEST(Counter, ValueSurvivesThreadExitAndRowReuse) {
  vigil::Registry registry;
  vigil::Counter c = registry.counter("events_total", "Events.").with({});
  for (int round = 0; round < 20; ++round) {
    std::thread([&] { c.inc(); }).join();
  }
  EXPECT_EQ(c.value(), 20);
}

}  // namespace
