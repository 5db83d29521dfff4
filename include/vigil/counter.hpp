#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "vigil/detail/cells.hpp"
#include "vigil/detail/compiler.hpp"
#include "vigil/detail/family_stats.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

template <class Handle>
class Family;

/// A monotonic counter series: a cheap handle to cache and copy freely.
///
/// inc() takes no lock and allocates nothing: each thread adds to its own
/// striped cell with a plain relaxed store (docs/adr/0001). (The first
/// increment of a series by a thread allocates the cells it writes: a
/// series only ever written by one thread costs one row.) Whole increments
/// go to an integer cell (an integer add has a quarter of a floating-point
/// add's latency), fractional ones to a double cell. value() sums the cells,
/// so it is meant for scrapes and tests, not the hot path.
///
/// Thread-safety: all members may be called from any thread at once. The
/// handle stays valid as long as the Registry that created it.
///
///     vigil::Counter sent = registry.counter("sent_total", "Sent.").with({});
///     sent.inc();
///     sent.inc(3);
///
/// Negative, NaN and infinite increments are ignored and counted in
/// vigil_updates_rejected_total{metric="..."}. Built with
/// VIGIL_DISABLE_METRICS, every update (here and in Gauge and Histogram)
/// compiles to nothing.
class Counter {
 public:
  /// Cells of a counter's run: whole increments, then fractional ones.
  static constexpr std::size_t kCells = 2;

  /// Adds one.
  void inc() noexcept {
    if constexpr (!VIGIL_METRICS_ENABLED) return;
    add(kWhole, std::uint64_t{1});
  }

  /// Adds `amount` (>= 0 and finite; anything else is rejected and counted).
  void inc(double amount) noexcept {
    if constexpr (!VIGIL_METRICS_ENABLED) return;
    if (VIGIL_UNLIKELY(!(amount >= 0) || std::isinf(amount))) {
      stats_->rejected.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (amount < kExactIntegers && std::floor(amount) == amount) {
      add(kWhole, static_cast<std::uint64_t>(amount));
    } else {
      add(kFraction, amount);
    }
  }

  /// The current total, summed over all threads' cells.
  double value() const noexcept { return value_of(*cells_); }

  /// The total of the counter series `cells` (for serialisation).
  static double value_of(const detail::SeriesCells& cells) noexcept {
    return static_cast<double>(detail::sum_u64(cells, kWhole)) +
           detail::sum_double(cells, kFraction);
  }

 private:
  static constexpr std::size_t kWhole = 0;
  static constexpr std::size_t kFraction = 1;
  static constexpr double kExactIntegers = 9007199254740992.0;  // 2^53

  // Handles come from Family::with().
  template <class Handle>
  friend class Family;
  Counter(detail::SeriesCells* cells, detail::RowTable* rows,
          detail::FamilyStats* stats) noexcept
      : cells_(cells), rows_(rows), stats_(stats) {}

  template <class T>
  void add(std::size_t index, T amount) noexcept {
    detail::add_to(rows_, *cells_, kCells, index, amount);
  }

  detail::SeriesCells* cells_;
  detail::RowTable* rows_;  // the registry's, wherever this code was built
  detail::FamilyStats* stats_;
};

VIGIL_NAMESPACE_END
