#pragma once

#include <atomic>
#include <cstdint>

#include "vigil/detail/cells.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

/// Per-family error counts, exported as vigil_updates_rejected_total and
/// vigil_series_dropped_total.
struct FamilyStats {
  /// Updates ignored as invalid (negative or non-finite counter increments,
  /// NaN observations), and with() calls whose label values had invalid
  /// UTF-8 (stored with U+FFFD instead). Touched only on error paths.
  std::atomic<std::uint64_t> rejected{0};
  /// Lookups of a new label set redirected to the overflow series because
  /// the family reached its series limit. Striped like a counter: with a
  /// label value unique per request, every request takes that path.
  SeriesCells dropped;

  std::uint64_t dropped_count() const noexcept { return sum_u64(dropped, 0); }
};

}  // namespace detail
VIGIL_NAMESPACE_END
