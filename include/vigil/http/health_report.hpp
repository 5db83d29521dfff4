#pragma once

#include <string>
#include <vector>

#include "vigil/http/check_report.hpp"
#include "vigil/http/check_result.hpp"
#include "vigil/http/detail/health_json.hpp"
#include "vigil/http/health_options.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// The answer to one probe: the worst status of the checks it covers (pass
/// when it covers none) and their detail.
struct HealthReport {
  /// The worst status among `checks`; pass when there are none.
  HealthStatus status = HealthStatus::kPass;
  /// The checks the probe covers, in the order they were added.
  std::vector<CheckReport> checks;

  /// 200 for pass and warn, 503 for fail.
  unsigned http_status() const {
    return status == HealthStatus::kFail ? 503 : 200;
  }

  /// The `application/health+json` body (draft-inadarei-api-health-check):
  /// `checks` keyed by check name, each an array of one object.
  std::string to_json(const HealthOptions& service = {}) const {
    return detail::health_json(status, checks, service);
  }
};

}  // namespace http
VIGIL_NAMESPACE_END
