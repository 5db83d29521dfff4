#include "vigil/registry.hpp"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace {

TEST(Registry, RegisteringTheSameFamilyAgainReturnsIt) {
  vigil::Registry registry;
  auto& a = registry.counter("x_total", "X.", {"k"});
  auto& b = registry.counter("x_total", "X again.", {"k"});
  EXPECT_EQ(&a, &b);
}

TEST(Registry, ConflictingRegistrationsThrow) {
  vigil::Registry registry;
  registry.counter("x_total", "X.", {"k"});
  EXPECT_THROW(registry.gauge("x_total", "X."), std::invalid_argument);
  EXPECT_THROW(registry.counter("x_total", "X.", {"other"}),
               std::invalid_argument);
  registry.histogram("h_seconds", "H.", {}, {1, 2});
  EXPECT_THROW(registry.histogram("h_seconds", "H.", {}, {1, 3}),
               std::invalid_argument);
}

// Two families must never emit the same name in any format: OpenMetrics
// would write `# TYPE jobs` twice, and a scraper keeps one of the samples.
TEST(Registry, NamesThatCollideInSomeFormatThrowInEitherOrder) {
  using Register = std::function<void(vigil::Registry&)>;
  const auto counter = [](const char* name) -> Register {
    return [name](vigil::Registry& r) { r.counter(name, "C."); };
  };
  const auto gauge = [](const char* name) -> Register {
    return [name](vigil::Registry& r) { r.gauge(name, "G."); };
  };
  const auto histogram = [](const char* name) -> Register {
    return [name](vigil::Registry& r) { r.histogram(name, "H.", {}, {1}); };
  };
  const std::vector<std::pair<Register, Register>> collisions = {
      {histogram("lat"), gauge("lat_count")},
      {histogram("lat"), gauge("lat_sum")},
      {histogram("lat"), gauge("lat_bucket")},
      {histogram("lat"), gauge("lat_created")},
      {histogram("lat"), counter("lat_count_total")},
      {histogram("lat"), counter("lat_bucket")},
      {counter("jobs"), counter("jobs_total")},
      {counter("jobs"), gauge("jobs_total")},
      {counter("jobs"), gauge("jobs_created")},
      {counter("req_total"), gauge("req")},
      {counter("req_total"), gauge("req_created")},
      {counter("req_total"), histogram("req")},
      {gauge("vigil_updates_rejected_total"), gauge("x")},  // vigil's own
      {counter("vigil_series_dropped"), gauge("x")},
  };
  for (const auto& pair : collisions) {
    for (bool reversed : {false, true}) {
      vigil::Registry registry;
      const Register& first = reversed ? pair.second : pair.first;
      const Register& second = reversed ? pair.first : pair.second;
      try {
        first(registry);
      } catch (const std::invalid_argument&) {
        // a name reserved by vigil: the other order is the interesting one
        continue;
      }
      EXPECT_THROW(second(registry), std::invalid_argument);
      EXPECT_EQ(registry.Collect().size(), 1u);
    }
  }
}

TEST(Registry, NamesThatOnlyLookAlikeDoNotCollide) {
  vigil::Registry registry;
  registry.histogram("lat", "H.", {}, {1});
  EXPECT_NO_THROW(registry.gauge("lat_counts", "G."));
  EXPECT_NO_THROW(registry.gauge("lat_total", "G."));
  EXPECT_NO_THROW(registry.counter("jobs_total", "C."));
  EXPECT_NO_THROW(registry.gauge("jobs_totals", "G."));
  EXPECT_NO_THROW(registry.gauge("level", "G."));
  EXPECT_NO_THROW(registry.gauge("level_total", "G."));
  // the same family again is still returned, not refused
  EXPECT_NO_THROW(registry.counter("jobs_total", "C."));
  EXPECT_NO_THROW(registry.histogram("lat", "H.", {}, {1}));
}

TEST(Registry, InvalidNamesThrowWithAClearMessage) {
  vigil::Registry registry;
  EXPECT_THROW(registry.counter("", "X."), std::invalid_argument);
  EXPECT_THROW(registry.counter("9lives", "X."), std::invalid_argument);
  EXPECT_THROW(registry.counter("has-dash", "X."), std::invalid_argument);
  EXPECT_THROW(registry.counter("x", "X.", {"__reserved"}),
               std::invalid_argument);
  EXPECT_THROW(registry.counter("x", "X.", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(registry.counter("x", "X.", {"bad label"}),
               std::invalid_argument);
  try {
    registry.counter("bad-name", "X.");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("bad-name"), std::string::npos);
  }
  EXPECT_NO_THROW(registry.counter("ns:subsystem_x_total", "Colons are fine."));
}

TEST(Registry, UnitMustBeTheNameSuffix) {
  vigil::Registry registry;
  EXPECT_NO_THROW(registry.counter("io_bytes_total", "IO.", {}, {"bytes", 0}));
  EXPECT_NO_THROW(registry.gauge("temp_celsius", "T.", {}, {"celsius", 0}));
  EXPECT_THROW(registry.gauge("temperature", "T.", {}, {"celsius", 0}),
               std::invalid_argument);
}

TEST(Registry, IsAPrometheusCollectable) {
  auto registry = std::make_shared<vigil::Registry>();
  registry->counter("x_total", "X.", {"k"}).with({"v"}).inc(2);
  registry->histogram("h_seconds", "H.", {}, {1}).with({}).observe(0.5);
  std::shared_ptr<prometheus::Collectable> as_collectable = registry;
  const auto families = as_collectable->Collect();
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name, "x_total");
  EXPECT_EQ(families[0].type, prometheus::MetricType::Counter);
  EXPECT_EQ(families[0].metric.at(0).label.at(0).value, "v");
  EXPECT_EQ(families[0].metric.at(0).counter.value, 2);
  const auto& h = families[1].metric.at(0).histogram;
  EXPECT_EQ(h.sample_count, 1u);
  ASSERT_EQ(h.bucket.size(), 2u);
  EXPECT_EQ(h.bucket[0].cumulative_count, 1u);
  const std::string text = prometheus::TextSerializer().Serialize(families);
  EXPECT_NE(text.find("x_total{k=\"v\"} 2"), std::string::npos);
}

TEST(Registry, ServesAnIncludedPrometheusRegistry) {
  vigil::Registry registry;
  auto legacy = std::make_shared<prometheus::Registry>();
  auto& jobs = prometheus::BuildCounter()
                   .Name("legacy_jobs_total")
                   .Help("Jobs.")
                   .Register(*legacy)
                   .Add({{"queue", "q1"}});
  jobs.Increment(4);
  registry.include_weak(legacy);
  EXPECT_NE(registry.scrape().find("legacy_jobs_total{queue=\"q1\"} 4\n"),
            std::string::npos);
  legacy.reset();  // a weakly included registry that is gone is skipped
  EXPECT_EQ(registry.scrape().find("legacy_jobs_total"), std::string::npos);
}

TEST(Registry, WriteAppendsToAReusedBuffer) {
  vigil::Registry registry;
  registry.gauge("g", "G.").with({}).set(1);
  std::string buffer = "prefix\n";
  registry.write(buffer, vigil::ExpositionFormat::kPrometheusText);
  EXPECT_EQ(buffer, "prefix\n# HELP g G.\n# TYPE g gauge\ng 1\n");
}

}  // namespace
