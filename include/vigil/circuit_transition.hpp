#pragma once

#include <chrono>
#include <string_view>

#include "vigil/circuit_state.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

/// One state change, as given to listeners.
struct CircuitTransition {
  /// The breaker's name.
  std::string_view breaker;
  /// The state it left.
  CircuitState from;
  /// The state it entered.
  CircuitState to;
  /// Why: "consecutive_failures", "failure_rate", "slow_call_rate",
  /// "wait_elapsed", "trial_failed", "trials_succeeded", "forced_open",
  /// "disabled" or "reset".
  std::string_view reason;
  /// When it happened, on the breaker's clock.
  std::chrono::steady_clock::time_point at;
  /// When entering OPEN: how long it stays open. Zero otherwise.
  std::chrono::nanoseconds open_wait;
};

VIGIL_NAMESPACE_END
