#pragma once

#include <cstddef>
#include <cstdint>

#include "vigil/health_verdict.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

/// The states of a CircuitBreaker. FORCED_OPEN and DISABLED are only entered
/// and left by an operator (force_open(), disable(), reset()).
enum class CircuitState : std::uint8_t {
  kClosed = 0,
  kOpen = 1,
  kHalfOpen = 2,
  kForcedOpen = 3,
  kDisabled = 4,
};

inline constexpr std::size_t kCircuitStateCount = 5;

/// The `state` label value: "closed", "open", "half_open", "forced_open",
/// "disabled".
inline const char* to_string(CircuitState state) noexcept {
  switch (state) {
    case CircuitState::kClosed:
      return "closed";
    case CircuitState::kOpen:
      return "open";
    case CircuitState::kHalfOpen:
      return "half_open";
    case CircuitState::kForcedOpen:
      return "forced_open";
    case CircuitState::kDisabled:
      return "disabled";
  }
  return "closed";
}

/// A breaker never fails a health check: when it is open the service is alive
/// and doing store-and-forward, which an operator should see (warn) but an
/// orchestrator must not act on (fail would restart a healthy process).
inline HealthVerdict health_verdict(CircuitState state) noexcept {
  switch (state) {
    case CircuitState::kOpen:
    case CircuitState::kHalfOpen:
    case CircuitState::kForcedOpen:
      return HealthVerdict::kWarn;
    case CircuitState::kClosed:
    case CircuitState::kDisabled:
      return HealthVerdict::kPass;
  }
  return HealthVerdict::kWarn;
}

VIGIL_NAMESPACE_END
