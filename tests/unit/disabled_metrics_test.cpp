// Built with VIGIL_DISABLE_METRICS (see tests/CMakeLists.txt): metric
// updates are no-ops, while registration and exposition keep working, so an
// instrumented service still serves /metrics (all zeros).
#include <gtest/gtest.h>

#include <vigil/registry.hpp>

#ifndef VIGIL_DISABLE_METRICS
#error "this test must be built with VIGIL_DISABLE_METRICS"
#endif

namespace {

TEST(DisabledMetrics, UpdatesAreNoOps) {
  static_assert(!VIGIL_METRICS_ENABLED);
  vigil::Registry registry;
  auto counter = registry.counter("sent_total", "Sent.").with({});
  auto gauge = registry.gauge("depth", "Depth.").with({});
  auto histogram =
      registry.histogram("latency_seconds", "Latency.", {}, {0.1, 1.0})
          .with({});
  counter.inc();
  counter.inc(5);
  gauge.set(42);
  gauge.inc(3);
  gauge.dec();
  histogram.observe(0.5);
  EXPECT_EQ(counter.value(), 0);
  EXPECT_EQ(gauge.value(), 0);
  EXPECT_EQ(histogram.snapshot().count, 0u);
  EXPECT_EQ(histogram.snapshot().sum, 0);
}

TEST(DisabledMetrics, SeriesAreStillExposed) {
  vigil::Registry registry;
  registry.counter("sent_total", "Sent.").with({}).inc();
  const std::string text = registry.scrape();
  EXPECT_NE(text.find("sent_total 0"), std::string::npos) << text;
}

}  // namespace
