#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "vigil/http/check_result.hpp"
#include "vigil/http/detail/health_state.hpp"
#include "vigil/http/health_options.hpp"
#include "vigil/http/health_probe.hpp"
#include "vigil/http/health_report.hpp"
#include "vigil/registry.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// The service's health checks, run off the request path and cached, so a
/// probe answers instantly from the last results and never hangs.
///
/// A polled check (add_check) runs on its own thread every
/// CheckOptions::interval; a run exceeding its timeout reports fail until it
/// returns. A push-style check (add_push_check) is set by the component it
/// describes (set()), e.g. a Kafka consumer on rebalance. Until its first
/// run completes a polled check reports fail ("pending"), so readiness is
/// not claimed before it is known.
///
/// Given a Registry, each check's state is exported as
/// `vigil_health_check_status{check,kind}` (1 pass/warn, 0 fail) so
/// Prometheus can alert on it.
///
/// Thread-safety: every member may be called from any thread. The
/// destructor stops and joins the check threads, so it waits for running
/// checks to return: a check must not block forever.
///
///     vigil::http::HealthRegistry health(registry);
///     health.add_check("db", {}, [&] {
///       return db.ping() ? vigil::http::CheckResult::pass()
///                        : vigil::http::CheckResult::fail("ping failed");
///     });
///     health.add_push_check("kafka", vigil::http::Probe::kReadiness);
///     health.set("kafka", vigil::http::CheckResult::fail("rebalancing"));
class HealthRegistry {
 public:
  /// A registry whose check states are not exported as metrics. `options`
  /// is the service identity copied into every report.
  explicit HealthRegistry(HealthOptions options = {})
      : options_(std::move(options)),
        state_(std::make_shared<detail::HealthState>()) {}
  /// Also exports `vigil_health_check_status` through `metrics`, which
  /// holds the check states weakly: either may be destroyed first.
  explicit HealthRegistry(Registry& metrics, HealthOptions options = {})
      : HealthRegistry(std::move(options)) {
    metrics.include_weak(state_);
  }
  HealthRegistry(const HealthRegistry&) = delete;
  HealthRegistry& operator=(const HealthRegistry&) = delete;
  ~HealthRegistry() {
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      state_->stopping = true;
    }
    state_->wake.notify_all();
    for (auto& thread : threads_) {
      thread.join();
    }
  }

  /// Adds a check run every options.interval on its own thread, starting
  /// now. Throws std::invalid_argument for a duplicate or empty name.
  void add_check(std::string name, CheckOptions options,
                 std::function<CheckResult()> check) {
    if (!check) {
      throw std::invalid_argument("vigil: health check without a function");
    }
    detail::HealthState::Check* added =
        add(std::move(name), std::move(options), std::move(check),
            CheckResult::fail("pending: first run not finished"));
    std::lock_guard<std::mutex> lock(threads_mutex_);
    threads_.emplace_back([state = state_, added] { state->poll(*added); });
  }

  /// Adds a check whose state its component sets with set().
  void add_push_check(std::string name, Probe probes,
                      CheckResult initial = CheckResult::pass(),
                      std::string component_type = {}) {
    CheckOptions options;
    options.probes = probes;
    options.component_type = std::move(component_type);
    add(std::move(name), std::move(options), {}, std::move(initial));
  }

  /// Records a check's state now. On a polled check, the next run overwrites
  /// it. Throws std::invalid_argument for an unknown name.
  void set(std::string_view name, CheckResult result) {
    std::lock_guard<std::mutex> lock(state_->mutex);
    for (auto& check : state_->checks) {
      if (check->name != name) {
        continue;
      }
      check->result = std::move(result);
      check->time = std::chrono::system_clock::now();
      return;
    }
    throw std::invalid_argument("vigil: no health check named '" +
                                std::string(name) + "'");
  }

  /// The cached state of the checks counting for `probe`.
  HealthReport report(Probe probe) const { return state_->report(probe); }
  /// The cached state of every check (what /health shows).
  HealthReport report() const { return state_->report(std::nullopt); }

  /// The service identity given at construction (Handler copies it into
  /// the JSON bodies).
  const HealthOptions& options() const { return options_; }

 private:
  detail::HealthState::Check* add(std::string name, CheckOptions options,
                                  std::function<CheckResult()> run,
                                  CheckResult initial) {
    if (name.empty()) {
      throw std::invalid_argument("vigil: empty health check name");
    }
    auto check = std::make_unique<detail::HealthState::Check>();
    check->name = std::move(name);
    check->options = std::move(options);
    check->run = std::move(run);
    check->result = std::move(initial);
    check->time = std::chrono::system_clock::now();
    std::lock_guard<std::mutex> lock(state_->mutex);
    for (const auto& existing : state_->checks) {
      if (existing->name == check->name) {
        throw std::invalid_argument("vigil: health check '" + check->name +
                                    "' already exists");
      }
    }
    state_->checks.push_back(std::move(check));
    return state_->checks.back().get();
  }

  const HealthOptions options_;
  std::shared_ptr<detail::HealthState> state_;
  std::mutex threads_mutex_;
  std::vector<std::thread> threads_;
};

}  // namespace http
VIGIL_NAMESPACE_END
