#pragma once
// The metric types of the exposition formats, and the names a family of
// each type takes up.

#include <string>
#include <string_view>
#include <vector>

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

enum class FamilyType { kCounter, kGauge, kHistogram, kSummary, kUntyped };

inline std::string_view strip_suffix(std::string_view name,
                                     std::string_view suffix) {
  if (name.size() > suffix.size() &&
      name.substr(name.size() - suffix.size()) == suffix) {
    name.remove_suffix(suffix.size());
  }
  return name;
}

/// The `# TYPE` word; the formats spell untyped differently.
inline std::string_view type_name(FamilyType type,
                                  std::string_view untyped_name) {
  switch (type) {
    case FamilyType::kCounter:
      return "counter";
    case FamilyType::kGauge:
      return "gauge";
    case FamilyType::kHistogram:
      return "histogram";
    case FamilyType::kSummary:
      return "summary";
    case FamilyType::kUntyped:
      break;
  }
  return untyped_name;
}

/// Every name a family of `type` called `name` takes up in some format:
/// its family names (OpenMetrics names a counter without `_total`) and its
/// sample names, counting suffixes vigil does not write yet (`_created`), so
/// that writing them later cannot make two registered families clash.
inline std::vector<std::string> exposed_names(std::string_view name,
                                              FamilyType type) {
  const std::string full(name);
  switch (type) {
    case FamilyType::kCounter: {
      const std::string base(strip_suffix(name, "_total"));
      return {full, base, base + "_total", base + "_created"};
    }
    case FamilyType::kHistogram:
      return {full, full + "_bucket", full + "_count", full + "_sum",
              full + "_created"};
    case FamilyType::kSummary:
      return {full, full + "_count", full + "_sum", full + "_created"};
    case FamilyType::kGauge:
    case FamilyType::kUntyped:
      break;
  }
  return {full};
}

/// Whether two families would write a name in common in some format.
inline bool names_collide(std::string_view a, FamilyType a_type,
                          std::string_view b, FamilyType b_type) {
  const auto a_names = exposed_names(a, a_type);
  for (const auto& b_name : exposed_names(b, b_type)) {
    for (const auto& a_name : a_names) {
      if (a_name == b_name) return true;
    }
  }
  return false;
}

}  // namespace detail
VIGIL_NAMESPACE_END
