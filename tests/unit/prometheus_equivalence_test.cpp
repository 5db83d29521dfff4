// vigil and prometheus-cpp fed the same samples must expose the same samples.
// Only HELP text may differ: we escape newlines, prometheus-cpp 1.0 does not.
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <map>
#include <random>
#include <string>

#include "text_parser.hpp"
#include "vigil/registry.hpp"

namespace {

std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  for (const auto& s : vigil_test::parse_exposition(text).samples) {
    EXPECT_TRUE(out.emplace(vigil_test::sample_key(s), s.value).second)
        << "duplicate sample " << vigil_test::sample_key(s);
  }
  return out;
}

TEST(PrometheusEquivalence, SameSamplesAsTextSerializer) {
  vigil::Registry ours;
  prometheus::Registry theirs;
  const std::vector<double> bounds = {0.01, 0.1, 1, 10};
  auto& our_counter =
      ours.counter("req_total", "Requests.", {"method", "path"});
  auto& their_counter = prometheus::BuildCounter()
                            .Name("req_total")
                            .Help("Requests.")
                            .Register(theirs);
  auto& our_gauge = ours.gauge("temp", "Temp.", {"room"});
  auto& their_gauge =
      prometheus::BuildGauge().Name("temp").Help("Temp.").Register(theirs);
  auto& our_hist = ours.histogram("lat_seconds", "Latency.", {"route"}, bounds);
  auto& their_hist = prometheus::BuildHistogram()
                         .Name("lat_seconds")
                         .Help("Latency.")
                         .Register(theirs);

  std::mt19937 rng(7);
  std::uniform_int_distribution<int> pick(0, 4);
  std::lognormal_distribution<double> latency(-3, 1.5);
  const std::string paths[] = {"/a", "/b\"quoted\"", "/c\\d", "/line\nbreak",
                               "/ütf-8"};
  for (int i = 0; i < 2000; ++i) {
    const std::string& path = paths[pick(rng)];
    const std::string method = pick(rng) % 2 ? "GET" : "POST";
    const double amount = pick(rng) + 0.5;
    our_counter.with({method, path}).inc(amount);
    their_counter.Add({{"method", method}, {"path", path}}).Increment(amount);
    const double value = latency(rng);
    our_hist.with({path}).observe(value);
    their_hist
        .Add({{"route", path}},
             prometheus::Histogram::BucketBoundaries{bounds.begin(),
                                                     bounds.end()})
        .Observe(value);
    our_gauge.with({path}).set(value - 0.5);
    their_gauge.Add({{"room", path}}).Set(value - 0.5);
  }

  const auto ours_parsed = samples(ours.scrape());
  const auto theirs_parsed =
      samples(prometheus::TextSerializer().Serialize(theirs.Collect()));
  ASSERT_EQ(ours_parsed.size(), theirs_parsed.size());
  for (const auto& [key, value] : theirs_parsed) {
    auto it = ours_parsed.find(key);
    ASSERT_NE(it, ours_parsed.end()) << "missing " << key;
    // Sums are added in a different order across stripes.
    EXPECT_NEAR(it->second, value, 1e-9 * std::max(1.0, std::abs(value)))
        << key;
  }
}

TEST(PrometheusEquivalence, HelpNewlinesAreWhereWeDifferOnPurpose) {
  vigil::Registry ours;
  ours.counter("x_total", "two\nlines").with({}).inc();
  EXPECT_NE(ours.scrape().find("# HELP x_total two\\nlines\n"),
            std::string::npos);
  EXPECT_NO_THROW(vigil_test::parse_exposition(ours.scrape()));
}

}  // namespace
