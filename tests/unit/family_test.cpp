#include "vigil/family.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "vigil/registry.hpp"

namespace {

TEST(Family, SameLabelValuesGiveTheSameSeries) {
  vigil::Registry registry;
  auto& family = registry.counter("http_requests_total", "Requests.",
                                  {"method", "path", "status"});
  family.with({"GET", "/v1/messages", "200"}).inc();
  const std::string method = "GET";
  family.with(std::vector<std::string>{method, "/v1/messages", "200"}).inc();
  family.with(std::vector<std::string_view>{"GET", "/v1/messages", "200"})
      .inc();
  family.with({"POST", "/v1/messages", "202"}).inc();
  EXPECT_EQ(family.with({"GET", "/v1/messages", "200"}).value(), 3);
  EXPECT_EQ(family.series_count(), 2u);
}

TEST(Family, WrongLabelCountThrows) {
  vigil::Registry registry;
  auto& family = registry.counter("x_total", "X.", {"a", "b"});
  EXPECT_THROW(family.with({"only-one"}), std::invalid_argument);
  EXPECT_THROW(family.with({"1", "2", "3"}), std::invalid_argument);
  EXPECT_THROW(family.remove({"1"}), std::invalid_argument);
}

TEST(Family, GrowsPastManyResizesAndFindsEverySeries) {
  vigil::Registry registry;
  auto& family = registry.gauge("g", "G.", {"id"});
  for (int i = 0; i < 5000; ++i) family.with({std::to_string(i)}).set(i);
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(family.with({std::to_string(i)}).value(), i);
  }
  EXPECT_EQ(family.series_count(), 5000u);
}

TEST(Family, CardinalityLimitSendsNewLabelSetsToOneOverflowSeries) {
  vigil::Registry registry(vigil::RegistryOptions{3});
  auto& family = registry.counter("x_total", "X.", {"user"});
  for (int i = 0; i < 10; ++i) family.with({"u" + std::to_string(i)}).inc();
  EXPECT_EQ(family.series_count(), 4u);  // three users + overflow
  EXPECT_EQ(family.dropped(), 7u);
  EXPECT_EQ(family.with({"u1"}).value(), 1);  // existing series unaffected
  const std::string body = registry.scrape();
  EXPECT_NE(body.find("x_total{user=\"__vigil_overflow__\"} 7\n"),
            std::string::npos);
  EXPECT_NE(body.find("vigil_series_dropped_total{metric=\"x_total\"} 7\n"),
            std::string::npos);
}

TEST(Family, PerFamilyLimitOverridesTheRegistryDefault) {
  vigil::Registry registry;
  auto& family = registry.gauge("g", "G.", {"k"}, {"", 1});
  family.with({"a"}).set(1);
  family.with({"b"}).set(2);
  EXPECT_EQ(family.with({"a"}).value(), 1);
  EXPECT_EQ(family.with({"zzz"}).value(), 2);  // the overflow series
  EXPECT_EQ(family.max_series(), 1u);
}

TEST(Family, RemovedSeriesAreNotExportedAndComeBackFromZero) {
  vigil::Registry registry;
  auto& family = registry.counter("lag_total", "Lag.", {"partition"});
  vigil::Counter p0 = family.with({"0"});
  p0.inc(5);
  EXPECT_TRUE(family.remove({"0"}));
  EXPECT_FALSE(family.remove({"0"}));  // already removed
  EXPECT_FALSE(family.remove({"1"}));  // never there
  EXPECT_EQ(family.series_count(), 0u);
  EXPECT_EQ(registry.scrape().find("lag_total{"), std::string::npos);
  p0.inc();  // the old handle stays valid; its update is not exported
  EXPECT_EQ(registry.scrape().find("lag_total{"), std::string::npos);
  vigil::Counter again = family.with({"0"});
  EXPECT_EQ(again.value(), 0);  // not 5, nor 6
  again.inc(2);
  EXPECT_NE(registry.scrape().find("lag_total{partition=\"0\"} 2\n"),
            std::string::npos);
}

TEST(Family, RemovedSeriesFreeTheirPlaceUnderTheSeriesLimit) {
  vigil::Registry registry;
  auto& family = registry.gauge("g", "G.", {"k"}, {"", 2});
  family.with({"a"}).set(1);
  family.with({"b"}).set(2);
  EXPECT_TRUE(family.remove({"a"}));
  EXPECT_TRUE(family.remove({"b"}));
  family.with({"c"}).set(3);  // a series of its own, not the overflow one
  family.with({"a"}).set(4);  // a removed label set comes back as well
  EXPECT_EQ(family.dropped(), 0u);
  EXPECT_EQ(family.series_count(), 2u);
  family.with({"b"}).set(5);  // now the family is full
  EXPECT_EQ(family.dropped(), 1u);
  const std::string body = registry.scrape();
  EXPECT_NE(body.find("g{k=\"c\"} 3\n"), std::string::npos) << body;
  EXPECT_NE(body.find("g{k=\"a\"} 4\n"), std::string::npos) << body;
  EXPECT_NE(body.find("g{k=\"__vigil_overflow__\"} 5\n"), std::string::npos)
      << body;
  EXPECT_FALSE(family.remove({"__vigil_overflow__"}));  // the overflow stays
}

TEST(Family, ALabelSetAddedAgainReusesItsRecordAndCells) {
  // What bounds memory when partitions come and go: removing and adding
  // the same label sets allocates nothing new.
  vigil::Registry registry;
  auto& family = registry.histogram("h_seconds", "H.", {"k"});
  const std::string_view value = "p7";
  family.with({value}).observe(1);
  const vigil::detail::Series* record = &family.series(&value, 1);
  const vigil::detail::Cell* cells = record->cells.compact.load();
  for (int round = 0; round < 50; ++round) {
    ASSERT_TRUE(family.remove({value}));
    vigil::Histogram h = family.with({value});
    h.observe(1);
    ASSERT_EQ(&family.series(&value, 1), record);
    ASSERT_EQ(record->cells.compact.load(), cells);
    ASSERT_EQ(h.snapshot().count, 1u);
  }
}

// Found by the exposition property test: a series named with the overflow
// value before the family filled up was written twice once it did.
TEST(Family, ASeriesNamedLikeTheOverflowSeriesBecomesIt) {
  vigil::Registry registry;
  auto& family = registry.gauge("g", "G.", {"k"}, {"", 1});
  family.with({vigil::kOverflowLabelValue}).set(1);
  family.with({"other"}).set(2);  // full: this goes to the overflow series
  const std::string body = registry.scrape();
  const std::string line = "g{k=\"__vigil_overflow__\"} ";
  EXPECT_NE(body.find(line + "2\n"), std::string::npos) << body;
  EXPECT_EQ(body.find(line), body.rfind(line)) << body;  // once
  EXPECT_EQ(family.series_count(), 1u);
  // Had it been removed before, it would come back from zero.
  vigil::Registry second;
  auto& again = second.counter("c_total", "C.", {"k"}, {"", 1});
  again.with({vigil::kOverflowLabelValue}).inc(5);
  ASSERT_TRUE(again.remove({vigil::kOverflowLabelValue}));
  again.with({"a"}).inc();
  again.with({"b"}).inc();  // full: to the overflow series
  EXPECT_EQ(again.with({vigil::kOverflowLabelValue}).value(), 1);
}

TEST(Registry, UnregisterStopsServingAFamilyAndFreesItsName) {
  vigil::Registry registry;
  auto& old_family = registry.counter("jobs_total", "Jobs.", {"k"});
  vigil::Counter old_handle = old_family.with({"a"});
  old_handle.inc();
  EXPECT_TRUE(registry.unregister(old_family));
  EXPECT_FALSE(registry.unregister(old_family));
  EXPECT_EQ(registry.scrape().find("jobs"), std::string::npos);
  old_handle.inc();  // still valid, no longer exported
  // The name is free again, for another type even.
  auto& gauge = registry.gauge("jobs", "Jobs now.");
  gauge.with({}).set(7);
  const std::string body = registry.scrape();
  EXPECT_NE(body.find("jobs 7\n"), std::string::npos) << body;
  EXPECT_EQ(body.find("jobs_total"), std::string::npos) << body;
  EXPECT_EQ(old_handle.value(), 2);
}

// One bad label value must not make a scraper reject every metric of the
// target: it is stored with U+FFFD and counted.
TEST(Family, InvalidUtf8LabelValuesAreReplacedAndCounted) {
  vigil::Registry registry;
  auto& family = registry.counter("x_total", "X.", {"k", "ok"});
  family.with({"\xff\xfe", "fine"}).inc();
  family.with({"\xef\xbf\xbd\xef\xbf\xbd", "fine"}).inc();  // the same series
  family.with(std::vector<std::string>{"a\xc3", "fine"}).inc();  // truncated
  family.with({"\xc0\xafz", "fine"}).inc();                      // overlong '/'
  EXPECT_EQ(family.series_count(), 3u);
  EXPECT_EQ(family.with({"\xff\xfe", "fine"}).value(), 2);
  EXPECT_EQ(family.stats().rejected.load(), 4u);  // one per with() call
  const std::string body = registry.scrape();
  EXPECT_NE(
      body.find("x_total{k=\"\xef\xbf\xbd\xef\xbf\xbd\",ok=\"fine\"} 2\n"),
      std::string::npos)
      << body;
  EXPECT_NE(body.find("x_total{k=\"a\xef\xbf\xbd\",ok=\"fine\"} 1\n"),
            std::string::npos);
  EXPECT_NE(body.find("vigil_updates_rejected_total{metric=\"x_total\"} 4\n"),
            std::string::npos);
  EXPECT_TRUE(family.remove({"\xff\xfe", "fine"}));
  EXPECT_EQ(registry.scrape().find("ok=\"fine\"} 2"), std::string::npos);
}

TEST(Family, ConcurrentCreationOfTheSameSeriesYieldsOneSeries) {
  vigil::Registry registry;
  auto& family = registry.counter("x_total", "X.", {"k"});
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < 500; ++i) family.with({std::to_string(i)}).inc();
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(family.series_count(), 500u);
  for (int i = 0; i < 500; ++i) {
    ASSERT_EQ(family.with({std::to_string(i)}).value(), 4);
  }
}

}  // namespace
