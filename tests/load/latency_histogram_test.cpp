// The driver's histogram against known distributions: every percentile the
// summary reports must be within 1% of the exact one (sorted samples).
#include "latency_histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace {

using chat_load::LatencyHistogram;

/// The exact percentile with the same definition: the smallest sample with
/// at least `percent`% of the samples at or below it.
double exact_percentile(std::vector<std::uint64_t> sorted, double percent) {
  const auto rank = static_cast<std::size_t>(
      std::max(1.0, std::ceil(percent / 100.0 * sorted.size())));
  return static_cast<double>(sorted[rank - 1]);
}

void expect_percentiles_within_one_percent(
    const std::function<std::uint64_t(std::mt19937_64&)>& draw) {
  std::mt19937_64 random(42);
  std::vector<std::uint64_t> samples(200000);
  LatencyHistogram h;
  for (auto& s : samples) {
    s = draw(random);
    h.record(s);
  }
  std::sort(samples.begin(), samples.end());
  for (double p : {1.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0}) {
    const double exact = exact_percentile(samples, p);
    EXPECT_NEAR(h.percentile(p), exact, exact * 0.01) << "p" << p;
  }
  EXPECT_EQ(h.count(), samples.size());
  EXPECT_EQ(h.min(), samples.front());
  EXPECT_EQ(h.max(), samples.back());
}

constexpr double kMicrosecond = 1e3;
constexpr double kSecond = 1e9;

TEST(LatencyHistogram, UniformMillisecondsWithinOnePercent) {
  expect_percentiles_within_one_percent([](std::mt19937_64& r) {
    return std::uniform_int_distribution<std::uint64_t>(1000, 10'000'000)(r);
  });
}

TEST(LatencyHistogram, ExponentialWithinOnePercent) {
  expect_percentiles_within_one_percent([](std::mt19937_64& r) {
    return static_cast<std::uint64_t>(
        kMicrosecond + std::exponential_distribution<double>(1 / 5e6)(r));
  });
}

TEST(LatencyHistogram, LogUniformFromOneMicrosecondToSixtySeconds) {
  expect_percentiles_within_one_percent([](std::mt19937_64& r) {
    const double exponent = std::uniform_real_distribution<double>(
        std::log(kMicrosecond), std::log(60 * kSecond))(r);
    return static_cast<std::uint64_t>(std::exp(exponent));
  });
}

TEST(LatencyHistogram, BimodalFastAndSlowWithinOnePercent) {
  // Mostly fast answers and a slow tail, as a queue that sometimes stalls.
  expect_percentiles_within_one_percent([](std::mt19937_64& r) {
    const bool slow = std::bernoulli_distribution(0.02)(r);
    const double mean = slow ? 800e6 : 2e6;
    return static_cast<std::uint64_t>(std::max(
        kMicrosecond, std::normal_distribution<double>(mean, mean / 10)(r)));
  });
}

TEST(LatencyHistogram, BucketsCoverTheRangeWithoutGapsAndNarrowEnough) {
  std::size_t previous = 0;
  // From 1 us (below it every nanosecond has its own bucket) to 60 s.
  for (std::uint64_t v = 1000; v < static_cast<std::uint64_t>(60 * kSecond);
       v = v + v / 7 + 1) {
    const std::size_t b = LatencyHistogram::bucket_of(v);
    EXPECT_GE(b, previous);
    previous = b;
    const std::uint64_t lower = LatencyHistogram::bucket_lower(b);
    const std::uint64_t width = LatencyHistogram::bucket_width(b);
    EXPECT_LE(lower, v);
    EXPECT_LT(v, lower + width);
    EXPECT_LE(static_cast<double>(width), static_cast<double>(v) / 100) << v;
    // The next bucket starts where this one ends.
    EXPECT_EQ(LatencyHistogram::bucket_lower(b + 1), lower + width);
  }
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram a, b, all;
  for (std::uint64_t v = 1000; v < 5'000'000; v += 997) {
    ((v / 997) % 3 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double p : {50.0, 99.0}) EXPECT_EQ(a.percentile(p), all.percentile(p));
}

TEST(LatencyHistogram, EmptyAndSingleValue) {
  LatencyHistogram h;
  EXPECT_EQ(h.percentile(99), 0);
  EXPECT_EQ(h.mean(), 0);
  h.record(1234567);
  EXPECT_EQ(h.percentile(50), 1234567);  // clamped to the exact extremes
  EXPECT_EQ(h.min(), 1234567u);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
}

TEST(LatencyHistogram, ValuesBeyondTheRangeAreClampedNotLost) {
  LatencyHistogram h;
  h.record(std::uint64_t{1} << 50);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_GT(h.percentile(100), 60 * kSecond);
}

}  // namespace
