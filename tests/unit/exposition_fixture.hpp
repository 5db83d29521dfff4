#pragma once
// The registries behind the golden exposition tests, shared with
// vigil_exposition_sample so that promtool checks every golden scrape too
// (tests/promtool_check.cmake).

#include <prometheus/metric_family.h>

#include <cmath>
#include <limits>
#include <vector>

#include "vigil/registry.hpp"

namespace vigil_test {

/// Escaping, units, histogram bounds that OpenMetrics spells differently
/// (1.0, 1e+06), special values, and label values and help text with
/// invalid UTF-8.
inline void fill_golden(vigil::Registry& registry) {
  registry
      .counter("jobs_total", "Jobs done.\nSecond \"line\" \\ end.", {"queue"})
      .with({"a\"b\\c\nd"})
      .inc(3);
  auto& h = registry.histogram("wait_seconds", "Wait.", {"queue"},
                               {0.1, 1, 1e6}, {"seconds", 0});
  h.with({"q"}).observe(0.05);
  h.with({"q"}).observe(0.5);
  h.with({"q"}).observe(7);
  auto& g = registry.gauge("level", "", {"kind"});
  g.with({"inf"}).set(std::numeric_limits<double>::infinity());
  g.with({"ninf"}).set(-std::numeric_limits<double>::infinity());
  g.with({"nan"}).set(std::nan(""));
  g.with({"small"}).set(1.25e-7);
  g.with({"big"}).set(12345678901234567.0);
  g.with({"third"}).set(1.0 / 3);
  auto& text =
      registry.gauge("text", "Valid \xc3\xa9, invalid \xff.", {"kind"});
  text.with({"\xff\xfe"}).set(1);
  text.with({"\xc3\xbc"}).set(2);
}

/// prometheus-cpp families of the types vigil does not register itself,
/// as an included collectable would return them.
inline std::vector<prometheus::MetricFamily> foreign_golden_families() {
  prometheus::MetricFamily summary{
      "rpc_seconds", "RPC.", prometheus::MetricType::Summary, {}};
  prometheus::ClientMetric m;
  m.summary.sample_count = 4;
  m.summary.sample_sum = 2;
  m.summary.quantile = {{0.5, 0.25}, {0.99, 1.5}, {1, 3}};
  summary.metric.push_back(m);
  prometheus::MetricFamily untyped{
      "raw", "", prometheus::MetricType::Untyped, {}};
  prometheus::ClientMetric u;
  u.untyped.value = 9;
  u.timestamp_ms = 1500;
  untyped.metric.push_back(u);
  prometheus::MetricFamily text{
      "foreign_text", "Invalid \xfe.", prometheus::MetricType::Gauge, {}};
  prometheus::ClientMetric t;
  t.label.push_back({"kind", "\xff"});
  t.gauge.value = 1;
  text.metric.push_back(t);
  return {summary, untyped, text};
}

}  // namespace vigil_test
