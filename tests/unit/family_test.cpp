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
  EXPECT_EQ(family.stats().dropped.load(), 7u);
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

TEST(Family, RemoveHidesUntilLookedUpAgain) {
  vigil::Registry registry;
  auto& family = registry.gauge("lag", "Lag.", {"partition"});
  vigil::Gauge p0 = family.with({"0"});
  p0.set(5);
  EXPECT_TRUE(family.remove({"0"}));
  EXPECT_FALSE(family.remove({"1"}));
  EXPECT_EQ(registry.scrape().find("lag{"), std::string::npos);
  p0.set(6);  // the old handle stays valid
  family.with({"0"});
  EXPECT_NE(registry.scrape().find("lag{partition=\"0\"} 6\n"),
            std::string::npos);
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
