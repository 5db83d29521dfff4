#include "vigil/http/detail/negotiation.hpp"

#include <gtest/gtest.h>

namespace {

using vigil::ExpositionFormat;
using vigil::http::detail::accepts_gzip;
using vigil::http::detail::negotiate_format;
using vigil::http::detail::parse_qvalue;

TEST(Negotiation, PrometheusScrapeHeaderGetsOpenMetrics) {
  // What Prometheus 2.x sends.
  EXPECT_EQ(negotiate_format(
                "application/openmetrics-text;version=1.0.0,application/"
                "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0."
                "4;q=0.5,*/*;q=0.1"),
            ExpositionFormat::kOpenMetrics);
  EXPECT_EQ(negotiate_format("Application/OpenMetrics-Text"),
            ExpositionFormat::kOpenMetrics);
}

TEST(Negotiation, TextWhenOpenMetricsIsNotPreferred) {
  EXPECT_EQ(negotiate_format(""), ExpositionFormat::kPrometheusText);
  EXPECT_EQ(negotiate_format("*/*"), ExpositionFormat::kPrometheusText);
  EXPECT_EQ(negotiate_format("text/plain;version=0.0.4"),
            ExpositionFormat::kPrometheusText);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0"),
            ExpositionFormat::kPrometheusText);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0.4, text/plain"),
            ExpositionFormat::kPrometheusText);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;version=9.0.0"),
            ExpositionFormat::kPrometheusText);
  EXPECT_EQ(negotiate_format("application/json"),
            ExpositionFormat::kPrometheusText);
}

TEST(Negotiation, QuotedParametersMayHoldSeparators) {
  EXPECT_EQ(negotiate_format(
                "text/plain;x=\"a,b;q=1\";q=0.1, application/openmetrics-text"),
            ExpositionFormat::kOpenMetrics);
}

TEST(Negotiation, QValues) {
  EXPECT_EQ(parse_qvalue("1"), 1000);
  EXPECT_EQ(parse_qvalue("0.5"), 500);
  EXPECT_EQ(parse_qvalue("0.125"), 125);
  EXPECT_EQ(parse_qvalue("1.000"), 1000);
  EXPECT_EQ(parse_qvalue("1.5"), -1);
  EXPECT_EQ(parse_qvalue("0.1234"), -1);
  EXPECT_EQ(parse_qvalue("2"), -1);
  EXPECT_EQ(parse_qvalue(""), -1);
  EXPECT_EQ(parse_qvalue("0.x"), -1);
}

TEST(Negotiation, Gzip) {
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("br, GZIP;q=0.5"));
  EXPECT_TRUE(accepts_gzip("x-gzip"));
  EXPECT_TRUE(accepts_gzip("*"));
  EXPECT_FALSE(accepts_gzip(""));
  EXPECT_FALSE(accepts_gzip("identity"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("*, gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("gzip;q=2"));  // malformed q: element ignored
}

}  // namespace
