#pragma once
// The metric types of the exposition formats.

#include <string_view>

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

}  // namespace detail
VIGIL_NAMESPACE_END
