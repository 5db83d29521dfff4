#pragma once

#include <atomic>
#include <cstdint>

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

/// Per-family error counts, exported as vigil_updates_rejected_total and
/// vigil_series_dropped_total. Touched only on error paths.
struct FamilyStats {
  /// Updates ignored as invalid (negative or non-finite counter increments,
  /// NaN observations), and with() calls whose label values had invalid
  /// UTF-8 (stored with U+FFFD instead).
  std::atomic<std::uint64_t> rejected{0};
  /// Lookups of a new label set redirected to the overflow series because
  /// the family reached its series limit.
  std::atomic<std::uint64_t> dropped{0};
};

}  // namespace detail
VIGIL_NAMESPACE_END
