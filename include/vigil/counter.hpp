#pragma once

#include <cmath>

#include "vigil/detail/cells.hpp"
#include "vigil/detail/family_stats.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

/// A monotonic counter series: a cheap handle to cache and copy freely.
///
/// inc() takes no lock and allocates nothing: each thread adds to its own
/// striped cell with a plain relaxed store (docs/adr/0001). value() sums the
/// cells, so it is meant for scrapes and tests, not the hot path.
///
/// Thread-safety: all members may be called from any thread at once. The
/// handle stays valid as long as the Registry that created it.
///
///     vigil::Counter sent = registry.counter("sent_total", "Sent.").with({});
///     sent.inc();
///     sent.inc(3);
///
/// Negative, NaN and infinite increments are ignored and counted in
/// vigil_updates_rejected_total{metric="..."}.
class Counter {
 public:
  Counter(detail::Cell* cells, detail::FamilyStats* stats) noexcept
      : cells_(cells), stats_(stats) {}

  void inc() noexcept { add(1.0); }

  void inc(double amount) noexcept {
    if (VIGIL_UNLIKELY(!(amount >= 0) || std::isinf(amount))) {
      stats_->rejected.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    add(amount);
  }

  /// The current total, summed over all threads' cells.
  double value() const noexcept { return detail::sum_double(cells_, 0); }

 private:
  void add(double amount) noexcept {
    if (detail::Cell* mine = detail::exclusive_run(cells_)) {
      detail::add_exclusive(*mine, amount);
    } else {
      detail::add_shared(*detail::shared_run(cells_), amount);
    }
  }

  detail::Cell* cells_;
  detail::FamilyStats* stats_;
};

VIGIL_NAMESPACE_END
