#pragma once

#include <chrono>
#include <string>

#include "vigil/http/check_result.hpp"
#include "vigil/http/health_probe.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// One check's state as of a report.
struct CheckReport {
  /// The name the check was added under; its key in the JSON body.
  std::string name;
  /// CheckOptions::component_type; empty for none.
  std::string component_type;
  /// The probes the check counts for.
  Probe probes = Probe::kReadiness;
  /// The last result; fail ("timed out after ... ms") while a polled run is
  /// overdue.
  CheckResult result;
  /// When `result` was produced.
  std::chrono::system_clock::time_point time;
};

}  // namespace http
VIGIL_NAMESPACE_END
