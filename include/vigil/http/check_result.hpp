#pragma once

#include <optional>
#include <string>
#include <utility>

#include "vigil/health_verdict.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// The IETF health-check draft's three states (vigil::HealthVerdict, which
/// components without HTTP report). warn still answers 200.
using HealthStatus = HealthVerdict;

/// What a check reports: a status, and for warn/fail an output saying why.
/// An observed value (e.g. replication lag) is shown in /health's detail.
struct CheckResult {
  /// Pass, warn or fail.
  HealthStatus status = HealthStatus::kPass;
  /// Why the check warns or fails, for a human (the draft's `output`);
  /// usually empty on pass.
  std::string output;
  /// The measurement behind the status, if any (the draft's
  /// `observedValue`).
  std::optional<double> observed_value;
  /// The unit of observed_value, e.g. "s" (the draft's `observedUnit`);
  /// empty for none.
  std::string observed_unit;

  /// A passing result without detail.
  static CheckResult pass() { return {}; }
  /// A degraded but working component, with `why` as output. The probes
  /// still answer 200.
  static CheckResult warn(std::string why) {
    return {HealthStatus::kWarn, std::move(why), std::nullopt, {}};
  }
  /// A failed component, with `why` as output: the probes the check counts
  /// for answer 503.
  static CheckResult fail(std::string why) {
    return {HealthStatus::kFail, std::move(why), std::nullopt, {}};
  }
  /// The result for a component's own verdict, e.g. a circuit breaker's
  /// health(); `why` becomes the output of warn and fail.
  static CheckResult from(HealthVerdict verdict, std::string why = {}) {
    if (verdict == HealthVerdict::kPass) return pass();
    return {verdict, std::move(why), std::nullopt, {}};
  }
};

}  // namespace http
VIGIL_NAMESPACE_END
