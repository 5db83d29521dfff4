#pragma once

#include <chrono>
#include <string>

#include "vigil/http/health_probe.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// How a polled check is run.
struct CheckOptions {
  /// The probes the check counts for; readiness only by default.
  Probe probes = Probe::kReadiness;
  /// Time between the end of one run and the start of the next.
  std::chrono::milliseconds interval{5000};
  /// A run still going after this long reports fail ("timed out") until it
  /// returns, so a hung dependency shows up instead of hanging the probe.
  std::chrono::milliseconds timeout{1000};
  /// The draft's componentType, e.g. "datastore"; optional.
  std::string component_type;
};

/// Service identity copied into every health report (all optional).
struct HealthOptions {
  /// The draft's `serviceId`: a unique identifier of the service.
  std::string service_id;
  /// The draft's `version`: the service's public version.
  std::string version;
  /// The draft's `description`: a human-friendly description.
  std::string description;
};

}  // namespace http
VIGIL_NAMESPACE_END
