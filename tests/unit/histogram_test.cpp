#include "vigil/histogram.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include "vigil/buckets.hpp"
#include "vigil/registry.hpp"

namespace {

TEST(Histogram, CountsIntoInclusiveUpperBounds) {
  vigil::Registry registry;
  vigil::Histogram h =
      registry.histogram("size_bytes", "Sizes.", {}, {1, 2, 4}).with({});
  for (double v : {0.5, 1.0, 1.5, 2.0, 4.0, 4.5, 100.0}) h.observe(v);
  const auto snap = h.snapshot();
  EXPECT_EQ(snap.cumulative, (std::vector<std::uint64_t>{2, 4, 5, 7}));
  EXPECT_EQ(snap.count, 7u);
  EXPECT_DOUBLE_EQ(snap.sum, 113.5);
}

TEST(Histogram, ManyBucketsUseTheBinarySearchPathCorrectly) {
  vigil::Registry registry;
  vigil::Histogram h =
      registry
          .histogram("x_seconds", "X.", {}, vigil::linear_buckets(1, 1, 100))
          .with({});
  for (int v = 0; v <= 101; ++v) h.observe(v);
  const auto snap = h.snapshot();
  ASSERT_EQ(snap.cumulative.size(), 101u);
  EXPECT_EQ(snap.cumulative[0], 2u);     // 0 and 1 are <= 1
  EXPECT_EQ(snap.cumulative[49], 51u);   // <= 50
  EXPECT_EQ(snap.cumulative[99], 101u);  // <= 100
  EXPECT_EQ(snap.cumulative[100], 102u);
}

TEST(Histogram, NaNIsRejectedAndCounted) {
  vigil::Registry registry;
  auto& family = registry.histogram("x_seconds", "X.");
  vigil::Histogram h = family.with({});
  h.observe(std::numeric_limits<double>::quiet_NaN());
  h.observe(std::numeric_limits<double>::infinity());
  h.observe(-std::numeric_limits<double>::infinity());
  const auto snap = h.snapshot();
  EXPECT_EQ(snap.count, 2u);
  EXPECT_EQ(snap.cumulative.front(), 1u);  // -Inf is below every bound
  EXPECT_EQ(family.stats().rejected.load(), 1u);
}

TEST(Histogram, SnapshotsWhileObservingKeepTheirPromises) {
  // What HistogramSnapshot promises with writers running: cumulative counts
  // never decrease along the buckets, the +Inf bucket is the count, and no
  // bucket goes backwards from one snapshot to the next. Once the writers
  // are joined, every count and the sum are exact.
  vigil::Registry registry;
  vigil::Histogram h =
      registry.histogram("x_seconds", "X.", {}, {1, 2, 3}).with({});
  constexpr int kThreads = 3;
  constexpr int kObservations = 100000;
  std::atomic<int> running{kThreads};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < kObservations; ++i) h.observe(i % 4 + 0.5);
      running.fetch_sub(1);
    });
  }
  vigil::HistogramSnapshot last;
  last.cumulative.assign(4, 0);
  int snapshots = 0;
  auto check = [&] {
    const vigil::HistogramSnapshot snap = h.snapshot();
    ASSERT_EQ(snap.cumulative.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i) {
      if (i > 0) {
        ASSERT_LE(snap.cumulative[i - 1], snap.cumulative[i]);
      }
      ASSERT_GE(snap.cumulative[i], last.cumulative[i]) << "bucket " << i;
    }
    ASSERT_EQ(snap.count, snap.cumulative.back());
    last = snap;
    ++snapshots;
  };
  while (running.load() > 0) check();
  for (auto& w : writers) w.join();
  check();
  EXPECT_GT(snapshots, 1);
  constexpr std::uint64_t kPerBucket =
      std::uint64_t{kThreads} * kObservations / 4;
  EXPECT_EQ(last.cumulative,
            (std::vector<std::uint64_t>{kPerBucket, 2 * kPerBucket,
                                        3 * kPerBucket, 4 * kPerBucket}));
  // 0.5 + 1.5 + 2.5 + 3.5 per four observations, exact in binary.
  EXPECT_EQ(last.sum, 8.0 * kPerBucket);
}

TEST(Buckets, Helpers) {
  EXPECT_EQ(vigil::linear_buckets(0, 0.5, 4),
            (std::vector<double>{0, 0.5, 1, 1.5}));
  EXPECT_EQ(vigil::exponential_buckets(1, 2, 4),
            (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(vigil::buckets::latency_seconds().size(), 11u);
  EXPECT_THROW(vigil::linear_buckets(0, 0, 3), std::invalid_argument);
  EXPECT_THROW(vigil::linear_buckets(0, 1, 0), std::invalid_argument);
  EXPECT_THROW(vigil::exponential_buckets(0, 2, 3), std::invalid_argument);
  EXPECT_THROW(vigil::exponential_buckets(1, 1, 3), std::invalid_argument);
}

TEST(Histogram, BadBoundsAreRefusedAtRegistration) {
  vigil::Registry registry;
  EXPECT_THROW(registry.histogram("a_seconds", "A.", {}, {1, 1}),
               std::invalid_argument);
  EXPECT_THROW(registry.histogram("b_seconds", "B.", {}, {2, 1}),
               std::invalid_argument);
  EXPECT_THROW(registry.histogram("c_seconds", "C.", {}, {std::nan("")}),
               std::invalid_argument);
  EXPECT_THROW(registry.histogram("d_seconds", "D.", {"le"}),
               std::invalid_argument);
  EXPECT_THROW(registry.histogram("e_seconds", "E.", {},
                                  vigil::linear_buckets(0, 1, 1000)),
               std::invalid_argument);
  // A trailing +Inf is accepted and folded into the implicit one.
  auto& f = registry.histogram("f_seconds", "F.", {},
                               {1, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(f.bounds(), std::vector<double>{1});
}

}  // namespace
