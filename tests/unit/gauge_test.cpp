#include "vigil/gauge.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include "vigil/registry.hpp"

namespace {

TEST(Gauge, SetIncDec) {
  vigil::Registry registry;
  vigil::Gauge g = registry.gauge("queue_depth", "Depth.").with({});
  g.set(10);
  g.inc();
  g.dec(3);
  EXPECT_EQ(g.value(), 8);
  g.set(-2.5);
  EXPECT_EQ(g.value(), -2.5);
}

TEST(Gauge, AcceptsNaN) {
  vigil::Registry registry;
  vigil::Gauge g = registry.gauge("ratio", "Ratio.").with({});
  g.set(std::nan(""));
  EXPECT_TRUE(std::isnan(g.value()));
}

TEST(Gauge, SetToCurrentTime) {
  vigil::Registry registry;
  vigil::Gauge g = registry.gauge("last_seen_seconds", "Time.").with({});
  const double before = std::chrono::duration<double>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  g.set_to_current_time();
  EXPECT_GE(g.value(), before);
  EXPECT_LT(g.value(), before + 3600);
}

TEST(Gauge, ConcurrentIncAndDecBalance) {
  vigil::Registry registry;
  vigil::Gauge g = registry.gauge("in_flight", "In flight.").with({});
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        g.inc();
        g.dec();
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(g.value(), 0);
}

}  // namespace
