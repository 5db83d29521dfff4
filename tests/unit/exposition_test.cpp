#include "vigil/exposition.hpp"

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <cmath>
#include <limits>

#include "exposition_fixture.hpp"
#include "text_parser.hpp"
#include "vigil/detail/json.hpp"
#include "vigil/registry.hpp"

namespace {

using vigil_test::fill_golden;

/// An included collectable returning foreign_golden_families().
struct ForeignFamilies : prometheus::Collectable {
  std::vector<prometheus::MetricFamily> Collect() const override {
    return vigil_test::foreign_golden_families();
  }
};

/// Whether `text` is well-formed UTF-8 throughout.
bool valid_utf8(std::string_view text) {
  while (!text.empty()) {
    const std::size_t length = vigil::detail::utf8_sequence_length(text);
    if (length == 0) return false;
    text.remove_prefix(length);
  }
  return true;
}

TEST(Exposition, PrometheusTextGolden) {
  vigil::Registry registry;
  fill_golden(registry);
  EXPECT_EQ(registry.scrape(vigil::ExpositionFormat::kPrometheusText),
            R"(# HELP jobs_total Jobs done.\nSecond "line" \\ end.
# TYPE jobs_total counter
jobs_total{queue="a\"b\\c\nd"} 3
# HELP wait_seconds Wait.
# TYPE wait_seconds histogram
wait_seconds_bucket{queue="q",le="0.1"} 1
wait_seconds_bucket{queue="q",le="1"} 2
wait_seconds_bucket{queue="q",le="1000000"} 3
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
# HELP text Valid é, invalid �.
# TYPE text gauge
text{kind="��"} 1
text{kind="ü"} 2
# HELP vigil_updates_rejected_total Updates ignored as invalid: negative or non-finite counter increments, NaN observations; and label values with invalid UTF-8, stored with U+FFFD instead.
# TYPE vigil_updates_rejected_total counter
vigil_updates_rejected_total{metric="text"} 1
)");
}

TEST(Exposition, OpenMetricsGolden) {
  vigil::Registry registry;
  fill_golden(registry);
  EXPECT_EQ(registry.scrape(vigil::ExpositionFormat::kOpenMetrics),
            R"(# TYPE jobs counter
# HELP jobs Jobs done.\nSecond \"line\" \\ end.
jobs_total{queue="a\"b\\c\nd"} 3
# TYPE wait_seconds histogram
# UNIT wait_seconds seconds
# HELP wait_seconds Wait.
wait_seconds_bucket{queue="q",le="0.1"} 1
wait_seconds_bucket{queue="q",le="1.0"} 2
wait_seconds_bucket{queue="q",le="1e+06"} 3
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
# TYPE text gauge
# HELP text Valid é, invalid �.
text{kind="��"} 1
text{kind="ü"} 2
# TYPE vigil_updates_rejected counter
# HELP vigil_updates_rejected Updates ignored as invalid: negative or non-finite counter increments, NaN observations; and label values with invalid UTF-8, stored with U+FFFD instead.
vigil_updates_rejected_total{metric="text"} 1
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
  const auto families = vigil_test::foreign_golden_families();
  std::string text;
  vigil::write_families(text, families,
                        vigil::ExpositionFormat::kPrometheusText);
  EXPECT_EQ(text,
            "# HELP rpc_seconds RPC.\n# TYPE rpc_seconds summary\n"
            "rpc_seconds{quantile=\"0.5\"} 0.25\n"
            "rpc_seconds{quantile=\"0.99\"} 1.5\n"
            "rpc_seconds{quantile=\"1\"} 3\n"
            "rpc_seconds_sum 2\nrpc_seconds_count 4\n"
            "# TYPE raw untyped\nraw 9 1500\n"
            "# HELP foreign_text Invalid \xef\xbf\xbd.\n"
            "# TYPE foreign_text gauge\n"
            "foreign_text{kind=\"\xef\xbf\xbd\"} 1\n");
  std::string om;
  vigil::write_families(om, families, vigil::ExpositionFormat::kOpenMetrics);
  // OpenMetrics wants `quantile` (like `le`) as a canonical number: 1.0.
  EXPECT_EQ(om,
            "# TYPE rpc_seconds summary\n# HELP rpc_seconds RPC.\n"
            "rpc_seconds{quantile=\"0.5\"} 0.25\n"
            "rpc_seconds{quantile=\"0.99\"} 1.5\n"
            "rpc_seconds{quantile=\"1.0\"} 3\n"
            "rpc_seconds_sum 2\nrpc_seconds_count 4\n"
            "# TYPE raw unknown\nraw 9 1.5\n"
            "# TYPE foreign_text gauge\n"
            "# HELP foreign_text Invalid \xef\xbf\xbd.\n"
            "foreign_text{kind=\"\xef\xbf\xbd\"} 1\n");
}

TEST(Exposition, OpenMetricsBoundsAreCanonicalNumbers) {
  vigil::Registry registry;
  registry
      .histogram("h", "H.", {},
                 {-2, 0, 1e-5, 0.0001, 0.5, 1, 123456.5, 1e6, 1.5e7, 1e21})
      .with({});
  const std::string om = registry.scrape(vigil::ExpositionFormat::kOpenMetrics);
  std::string les;
  for (std::size_t at = om.find("le=\""); at != std::string::npos;
       at = om.find("le=\"", at + 1)) {
    les += om.substr(at + 4, om.find('"', at + 4) - at - 4) + ' ';
  }
  EXPECT_EQ(les,
            "-2.0 0.0 1e-05 0.0001 0.5 1.0 123456.5 1e+06 1.5e+07 1e+21 +Inf ");
}

TEST(Exposition, NoFormatEmitsInvalidUtf8) {
  vigil::Registry registry;
  fill_golden(registry);
  registry.include(std::make_shared<ForeignFamilies>());
  for (auto format : {vigil::ExpositionFormat::kPrometheusText,
                      vigil::ExpositionFormat::kOpenMetrics}) {
    const std::string body = registry.scrape(format);
    EXPECT_TRUE(valid_utf8(body)) << body;
    EXPECT_NE(body.find("foreign_text{kind=\"\xef\xbf\xbd\"} 1\n"),
              std::string::npos);
  }
  for (const auto& family : registry.Collect()) {
    EXPECT_TRUE(valid_utf8(family.help)) << family.name;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        EXPECT_TRUE(valid_utf8(label.value)) << family.name;
      }
    }
  }
}

TEST(Exposition, ContentTypes) {
  EXPECT_EQ(vigil::content_type(vigil::ExpositionFormat::kPrometheusText),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(vigil::content_type(vigil::ExpositionFormat::kOpenMetrics),
            "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

TEST(Exposition, ParsesBackToTheSameHelpAndLabels) {
  vigil::Registry registry;
  fill_golden(registry);
  const auto parsed = vigil_test::parse_exposition(
      registry.scrape(vigil::ExpositionFormat::kOpenMetrics));
  EXPECT_TRUE(parsed.has_eof);
  EXPECT_EQ(parsed.help.at("jobs"), "Jobs done.\nSecond \"line\" \\ end.");
  EXPECT_EQ(parsed.samples.at(0).labels.at("queue"), "a\"b\\c\nd");
}

}  // namespace
