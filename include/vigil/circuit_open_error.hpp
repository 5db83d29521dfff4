#pragma once

#include <stdexcept>
#include <string>

#include "vigil/circuit_state.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

/// Thrown by CircuitBreaker::call when the breaker rejects the call, so a
/// caller can tell "not tried" (store and forward) from "tried and failed".
/// Immutable, like any exception object.
///
///     try {
///       crm.call(send);
///     } catch (const vigil::CircuitOpenError&) {
///       outbox.keep(message);
///     }
class CircuitOpenError : public std::runtime_error {
 public:
  /// For the breaker named `breaker`, rejecting in `state`.
  CircuitOpenError(const std::string& breaker, CircuitState state)
      : std::runtime_error("vigil: circuit breaker '" + breaker + "' is " +
                           to_string(state) + "; call rejected"),
        state_(state) {}
  /// The state that rejected the call (open or forced open).
  CircuitState state() const noexcept { return state_; }

 private:
  CircuitState state_;
};

VIGIL_NAMESPACE_END
