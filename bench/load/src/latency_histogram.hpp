#pragma once
// A high-dynamic-range latency histogram in the style of HdrHistogram:
// log-linear buckets (each power of two split into 128 equal sub-buckets), so
// every recorded value lands in a bucket at most 1/128 of its own size wide.
// Percentiles are reported at the bucket's midpoint: relative error < 0.4%
// from 1 µs to 60 s (values up to ~137 s are kept, larger ones clamped).

#include <cstddef>
#include <cstdint>
#include <vector>

namespace chat_load {

/// Thread-safety: none; each thread records into its own and merge()s.
///
///     LatencyHistogram h;
///     h.record(1'500'000);           // 1.5 ms in nanoseconds
///     double p99 = h.percentile(99);  // in nanoseconds
class LatencyHistogram {
 public:
  LatencyHistogram();

  /// Records one value in nanoseconds.
  void record(std::uint64_t nanoseconds);
  /// Adds every value `other` holds.
  void merge(const LatencyHistogram& other);
  void reset();

  std::uint64_t count() const { return count_; }
  /// Exact extremes and mean; 0 when empty.
  std::uint64_t min() const { return count_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }
  double mean() const;
  /// The value below which `percent` (0..100] of the recorded values lie,
  /// in nanoseconds; 0 when empty.
  double percentile(double percent) const;

  /// The bucket `nanoseconds` falls into, and its range [lower, lower+width).
  static std::size_t bucket_of(std::uint64_t nanoseconds);
  static std::uint64_t bucket_lower(std::size_t bucket);
  static std::uint64_t bucket_width(std::size_t bucket);

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = 0;
  std::uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace chat_load
