#pragma once

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

/// What a component's state means for a health check, in the vocabulary of
/// the IETF health-check draft. Components that have nothing to do with HTTP
/// (the circuit breaker, the Kafka lag probe) report this plain value so any
/// health registry, vigil::http's included, can consume it without those
/// components depending on it.
///
///     health.set("crm-breaker",
///                vigil::http::CheckResult::from(breaker.health(), "open"));
enum class HealthVerdict { kPass, kWarn, kFail };

/// "pass", "warn" or "fail", as the draft spells them.
inline const char* to_string(HealthVerdict verdict) noexcept {
  switch (verdict) {
    case HealthVerdict::kPass:
      return "pass";
    case HealthVerdict::kWarn:
      return "warn";
    case HealthVerdict::kFail:
      return "fail";
  }
  return "fail";
}

VIGIL_NAMESPACE_END
