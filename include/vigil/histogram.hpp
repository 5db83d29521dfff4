#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "vigil/detail/cells.hpp"
#include "vigil/detail/compiler.hpp"
#include "vigil/detail/family_stats.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

template <class Handle>
class Family;

/// One read of a histogram series, taken while observations may go on.
///
/// What holds in every snapshot: `count` is the sum of the buckets read in
/// the same pass, so it always equals the `+Inf` bucket (and `_count` does in
/// a scrape); `cumulative` never decreases from one bucket to the next; and a
/// later snapshot taken by the same thread never shows a bucket or the count
/// lower. What does not: buckets are read one after the other, not at one
/// instant, and `sum` is read after them, so with observations in flight
/// `sum` may include some that the buckets miss or miss some they include.
/// Once the observing threads are done (joined, or otherwise ordered before
/// the read), every field is exact.
struct HistogramSnapshot {
  /// Cumulative counts, one per finite bound, then `+Inf`.
  std::vector<std::uint64_t> cumulative;
  /// Number of observations (the `+Inf` bucket).
  std::uint64_t count = 0;
  /// Sum of the observations.
  double sum = 0;
};

/// A histogram series: counts observations into fixed buckets.
///
/// observe() takes no lock and allocates nothing: it finds the bucket and
/// adds to the calling thread's own striped cells (docs/adr/0001), which a
/// thread's first observation of the series allocates. The
/// total count is derived from the buckets at read time, so a scrape never
/// shows `_count` below a bucket.
///
/// Thread-safety: all members may be called from any thread at once. The
/// handle stays valid as long as the Registry that created it.
///
///     vigil::Histogram latency =
///         registry.histogram("rpc_seconds", "Latency.", {"method"})
///             .with({"get"});
///     latency.observe(0.042);
///
/// NaN observations are ignored and counted in
/// vigil_updates_rejected_total{metric="..."}.
class Histogram {
 public:
  /// Padding of the bounds array the bucket search reads.
  static constexpr std::size_t kBoundsAlignment = 4;

  /// Counts `v` (NaN is rejected and counted).
  void observe(double v) noexcept {
    if constexpr (!VIGIL_METRICS_ENABLED) return;
    if (VIGIL_UNLIKELY(std::isnan(v))) {
      stats_->rejected.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const std::size_t bucket = bucket_index(v);
    const std::size_t sum_index = bound_count_ + 1;
    if (detail::Cell* mine =
            detail::exclusive_cells(rows_, *cells_, bound_count_ + 2)) {
      detail::add_exclusive(mine[bucket], std::uint64_t{1});
      detail::add_exclusive(mine[sum_index], v);
    } else {
      detail::Cell* shared = detail::shared_cells(rows_, *cells_);
      detail::add_shared(shared[bucket], std::uint64_t{1});
      detail::add_shared(shared[sum_index], v);
    }
  }

  /// Reads the buckets, count and sum (see HistogramSnapshot for what a
  /// read taken during observations guarantees).
  HistogramSnapshot snapshot() const {
    HistogramSnapshot snap;
    snap.cumulative.resize(bound_count_ + 1);
    for (std::size_t i = 0; i <= bound_count_; ++i) {
      snap.count += detail::sum_u64(*cells_, i);
      snap.cumulative[i] = snap.count;
    }
    snap.sum = detail::sum_double(*cells_, bound_count_ + 1);
    return snap;
  }

 private:
  // Handles come from Family::with(). `bounds` must be readable up to the
  // next multiple of kBoundsAlignment, padded with +Inf.
  template <class Handle>
  friend class Family;
  /// Cell layout of a run: one count per bucket (bounds + `+Inf`), then sum.
  Histogram(detail::SeriesCells* cells, detail::RowTable* rows,
            const double* bounds, std::size_t bound_count,
            detail::FamilyStats* stats) noexcept
      : cells_(cells),
        rows_(rows),
        bounds_(bounds),
        bound_count_(bound_count),
        stats_(stats) {}

  /// Index of the first bound >= v (`le` is inclusive); bound_count_ for
  /// `+Inf`. For the usual few buckets, counts the bounds below v four at a
  /// time with no branch on v (the compiler emits packed compares); the
  /// bounds are padded with +Inf to a multiple of kBoundsAlignment.
  std::size_t bucket_index(double v) const noexcept {
    if (VIGIL_LIKELY(bound_count_ <= 32)) {
      std::size_t below = 0;
      for (std::size_t i = 0; i < bound_count_; i += kBoundsAlignment) {
        const double* b = bounds_ + i;
        below += static_cast<std::size_t>(b[0] < v) + (b[1] < v) + (b[2] < v) +
                 (b[3] < v);
      }
      return below;
    }
    std::size_t lo = 0;
    std::size_t hi = bound_count_;
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (bounds_[mid] < v) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  detail::SeriesCells* cells_;
  detail::RowTable* rows_;  // the registry's, wherever this code was built
  const double* bounds_;
  std::size_t bound_count_;
  detail::FamilyStats* stats_;
};

VIGIL_NAMESPACE_END
