#pragma once
// The store as a readiness check: a service whose database cannot answer
// says so on /health/ready, so that a load balancer (or an operator) stops
// sending it work it can only refuse.

#include <chrono>
#include <exception>
#include <vigil/http/health.hpp>

#include "store.hpp"

namespace chat {

/// Registers a readiness check "store" that pings `store` every `interval`.
/// The store must outlive `health`'s check threads (declare it first).
///
///   chat::add_store_readiness_check(health, *store);
inline void add_store_readiness_check(
    vigil::http::HealthRegistry& health, Store& store,
    std::chrono::milliseconds interval = std::chrono::seconds(1)) {
  vigil::http::CheckOptions options;
  options.probes = vigil::http::Probe::kReadiness;
  options.interval = interval;
  // Longer than a refused connection, shorter than a connect timeout.
  options.timeout = std::chrono::seconds(2);
  options.component_type = "datastore";
  health.add_check("store", options, [&store] {
    try {
      store.ping();
      return vigil::http::CheckResult::pass();
    } catch (const std::exception& e) {
      return vigil::http::CheckResult::fail(e.what());
    }
  });
}

}  // namespace chat
