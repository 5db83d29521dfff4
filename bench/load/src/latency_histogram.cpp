#include "latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace chat_load {
namespace {

constexpr int kSubBucketBits = 7;  // 128 sub-buckets per power of two
constexpr std::uint64_t kSubBuckets = 1u << kSubBucketBits;
// Values below 2 * kSubBuckets have buckets one nanosecond wide.
constexpr std::uint64_t kExactBelow = 2 * kSubBuckets;
// 2^37 ns is about 137 s: above the 60 s the driver must cover.
constexpr int kMaxBits = 37;
constexpr std::uint64_t kLargest = (std::uint64_t{1} << kMaxBits) - 1;

int most_significant_bit(std::uint64_t v) { return 63 - __builtin_clzll(v); }

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(bucket_of(kLargest) + 1, 0) {}

std::size_t LatencyHistogram::bucket_of(std::uint64_t v) {
  v = std::min(v, kLargest);
  if (v < kExactBelow) return static_cast<std::size_t>(v);
  const int shift = most_significant_bit(v) - kSubBucketBits;
  return static_cast<std::size_t>((static_cast<std::uint64_t>(shift) + 1) *
                                      kSubBuckets +
                                  ((v >> shift) - kSubBuckets));
}

std::uint64_t LatencyHistogram::bucket_lower(std::size_t bucket) {
  if (bucket < kExactBelow) return bucket;
  const std::uint64_t shift = bucket / kSubBuckets - 1;
  return (bucket % kSubBuckets + kSubBuckets) << shift;
}

std::uint64_t LatencyHistogram::bucket_width(std::size_t bucket) {
  if (bucket < kExactBelow) return 1;
  return std::uint64_t{1} << (bucket / kSubBuckets - 1);
}

void LatencyHistogram::record(std::uint64_t nanoseconds) {
  ++counts_[bucket_of(nanoseconds)];
  if (count_ == 0 || nanoseconds < min_) min_ = nanoseconds;
  max_ = std::max(max_, nanoseconds);
  ++count_;
  sum_ += nanoseconds;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i)
    counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

void LatencyHistogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = 0;
  max_ = 0;
  sum_ = 0;
}

double LatencyHistogram::mean() const {
  return count_ ? static_cast<double>(sum_ / count_) : 0.0;
}

double LatencyHistogram::percentile(double percent) const {
  if (count_ == 0) return 0;
  const double wanted = std::ceil(std::clamp(percent, 0.0, 100.0) / 100.0 *
                                  static_cast<double>(count_));
  const std::uint64_t rank =
      std::max<std::uint64_t>(1, static_cast<std::uint64_t>(wanted));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const double middle = static_cast<double>(bucket_lower(i)) +
                            static_cast<double>(bucket_width(i) - 1) / 2.0;
      return std::clamp(middle, static_cast<double>(min_),
                        static_cast<double>(max_));
    }
  }
  return static_cast<double>(max_);
}

}  // namespace chat_load
