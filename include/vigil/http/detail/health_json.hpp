#pragma once
// The application/health+json body (draft-inadarei-api-health-check).

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "vigil/detail/json.hpp"
#include "vigil/http/check_report.hpp"
#include "vigil/http/check_result.hpp"
#include "vigil/http/health_options.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {
namespace detail {

/// The application/health+json body for a probe whose worst status is
/// `status` (see HealthReport::to_json).
inline std::string health_json(HealthStatus status,
                               const std::vector<CheckReport>& checks,
                               const HealthOptions& service) {
  std::string out = "{\"status\":";
  vigil::detail::append_json_string(out, to_string(status));
  const std::pair<const char*, const std::string*> ids[] = {
      {"serviceId", &service.service_id},
      {"version", &service.version},
      {"description", &service.description}};
  for (const auto& id : ids) {
    if (id.second->empty()) {
      continue;
    }
    out += ",\"";
    out += id.first;
    out += "\":";
    vigil::detail::append_json_string(out, *id.second);
  }
  out += ",\"checks\":{";
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const CheckReport& check = checks[i];
    if (i) {
      out += ',';
    }
    vigil::detail::append_json_string(out, check.name);
    out += ":[{\"status\":";
    vigil::detail::append_json_string(out, to_string(check.result.status));
    if (!check.component_type.empty()) {
      out += ",\"componentType\":";
      vigil::detail::append_json_string(out, check.component_type);
    }
    if (check.result.observed_value) {
      out += ",\"observedValue\":";
      vigil::detail::append_json_number(out, *check.result.observed_value);
    }
    if (!check.result.observed_unit.empty()) {
      out += ",\"observedUnit\":";
      vigil::detail::append_json_string(out, check.result.observed_unit);
    }
    out += ",\"time\":\"";
    vigil::detail::append_rfc3339(out, check.time);
    out += '"';
    if (!check.result.output.empty()) {
      out += ",\"output\":";
      vigil::detail::append_json_string(out, check.result.output);
    }
    out += "}]";
  }
  out += "}}";
  return out;
}

}  // namespace detail
}  // namespace http
VIGIL_NAMESPACE_END
