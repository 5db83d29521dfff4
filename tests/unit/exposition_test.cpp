#include "vigil/exposition.hpp"

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <cmath>
#include <limits>

#include "text_parser.hpp"
#include "vigil/registry.hpp"

namespace {

void fill(vigil::Registry& registry) {
  registry
      .counter("jobs_total", "Jobs done.\nSecond \"line\" \\ end.", {"queue"})
      .with({"a\"b\\c\nd"})
      .inc(3);
  auto& h = registry.histogram("wait_seconds", "Wait.", {"queue"}, {0.1, 1},
                               {"seconds", 0});
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
}

TEST(Exposition, PrometheusTextGolden) {
  vigil::Registry registry;
  fill(registry);
  EXPECT_EQ(registry.scrape(vigil::ExpositionFormat::kPrometheusText),
            R"(# HELP jobs_total Jobs done.\nSecond "line" \\ end.
# TYPE jobs_total counter
jobs_total{queue="a\"b\\c\nd"} 3
# HELP wait_seconds Wait.
# TYPE wait_seconds histogram
wait_seconds_bucket{queue="q",le="0.1"} 1
wait_seconds_bucket{queue="q",le="1"} 2
wait_seconds_bucket{queue="q",le="+Inf"} 3
wait_seconds_sum{queue="q"} 7.55
wait_seconds_count{queue="q"} 3
# TYPE level gauge
level{kind="inf"} +Inf
level{kind="ninf"} -Inf
level{kind="nan"} NaN
level{kind="small"} 1.25e-07
level{kind="big"} 1.2345678901234568e+16
level{kind="third"} 0.3333333333333333
)");
}

TEST(Exposition, OpenMetricsGolden) {
  vigil::Registry registry;
  fill(registry);
  EXPECT_EQ(registry.scrape(vigil::ExpositionFormat::kOpenMetrics),
            R"(# TYPE jobs counter
# HELP jobs Jobs done.\nSecond \"line\" \\ end.
jobs_total{queue="a\"b\\c\nd"} 3
# TYPE wait_seconds histogram
# UNIT wait_seconds seconds
# HELP wait_seconds Wait.
wait_seconds_bucket{queue="q",le="0.1"} 1
wait_seconds_bucket{queue="q",le="1"} 2
wait_seconds_bucket{queue="q",le="+Inf"} 3
wait_seconds_sum{queue="q"} 7.55
wait_seconds_count{queue="q"} 3
# TYPE level gauge
level{kind="inf"} +Inf
level{kind="ninf"} -Inf
level{kind="nan"} NaN
level{kind="small"} 1.25e-07
level{kind="big"} 1.2345678901234568e+16
level{kind="third"} 0.3333333333333333
# EOF
)");
}

TEST(Exposition, OpenMetricsAddsTotalToCountersNamedWithoutIt) {
  vigil::Registry registry;
  registry.counter("retries", "Retries.").with({}).inc();
  const std::string om = registry.scrape(vigil::ExpositionFormat::kOpenMetrics);
  EXPECT_NE(om.find("# TYPE retries counter\n"), std::string::npos);
  EXPECT_NE(om.find("\nretries_total 1\n"), std::string::npos);
  EXPECT_NE(registry.scrape().find("\nretries 1\n"), std::string::npos);
}

TEST(Exposition, EmptyRegistry) {
  vigil::Registry registry;
  EXPECT_EQ(registry.scrape(), "");
  EXPECT_EQ(registry.scrape(vigil::ExpositionFormat::kOpenMetrics), "# EOF\n");
}

TEST(Exposition, ForeignFamiliesOfEveryType) {
  prometheus::MetricFamily summary{
      "rpc_seconds", "RPC.", prometheus::MetricType::Summary, {}};
  prometheus::ClientMetric m;
  m.summary.sample_count = 4;
  m.summary.sample_sum = 2;
  m.summary.quantile = {{0.5, 0.25}, {0.99, 1.5}};
  summary.metric.push_back(m);
  prometheus::MetricFamily untyped{
      "raw", "", prometheus::MetricType::Untyped, {}};
  prometheus::ClientMetric u;
  u.untyped.value = 9;
  u.timestamp_ms = 1500;
  untyped.metric.push_back(u);
  std::string text;
  vigil::write_families(text, {summary, untyped},
                        vigil::ExpositionFormat::kPrometheusText);
  EXPECT_EQ(text,
            "# HELP rpc_seconds RPC.\n# TYPE rpc_seconds summary\n"
            "rpc_seconds{quantile=\"0.5\"} 0.25\n"
            "rpc_seconds{quantile=\"0.99\"} 1.5\n"
            "rpc_seconds_sum 2\nrpc_seconds_count 4\n"
            "# TYPE raw untyped\nraw 9 1500\n");
  std::string om;
  vigil::write_families(om, {untyped}, vigil::ExpositionFormat::kOpenMetrics);
  EXPECT_EQ(om, "# TYPE raw unknown\nraw 9 1.5\n");
}

TEST(Exposition, ContentTypes) {
  EXPECT_EQ(vigil::content_type(vigil::ExpositionFormat::kPrometheusText),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(vigil::content_type(vigil::ExpositionFormat::kOpenMetrics),
            "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

TEST(Exposition, ParsesBackToTheSameHelpAndLabels) {
  vigil::Registry registry;
  fill(registry);
  const auto parsed = vigil_test::parse_exposition(
      registry.scrape(vigil::ExpositionFormat::kOpenMetrics));
  EXPECT_TRUE(parsed.has_eof);
  EXPECT_EQ(parsed.help.at("jobs"), "Jobs done.\nSecond \"line\" \\ end.");
  EXPECT_EQ(parsed.samples.at(0).labels.at("queue"), "a\"b\\c\nd");
}

}  // namespace
