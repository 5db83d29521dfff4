#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vigil/http/check_report.hpp"
#include "vigil/http/check_result.hpp"
#include "vigil/http/health_options.hpp"
#include "vigil/http/health_probe.hpp"
#include "vigil/http/health_report.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {
namespace detail {

/// Checks and their cached results. Shared with the check threads and, as a
/// Collectable, with the metrics Registry (which holds it weakly), so
/// neither can outlive what it touches.
class HealthState : public prometheus::Collectable {
 public:
  using Clock = std::chrono::steady_clock;

  struct Check {
    std::string name;
    CheckOptions options;
    std::function<CheckResult()> run;  // empty for push-style checks
    CheckResult result;
    std::chrono::system_clock::time_point time;
    bool running = false;
    Clock::time_point started{};
  };

  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily family{
        "vigil_health_check_status",
        "1 while the health check passes or warns, 0 while it fails; one "
        "series per probe the check counts for.",
        prometheus::MetricType::Gauge,
        {}};
    static constexpr std::pair<Probe, const char*> kKinds[] = {
        {Probe::kLiveness, "liveness"},
        {Probe::kReadiness, "readiness"},
        {Probe::kStartup, "startup"}};
    for (const CheckReport& check : report(std::nullopt).checks) {
      for (const auto& kind : kKinds) {
        if (!has_probe(check.probes, kind.first)) {
          continue;
        }
        prometheus::ClientMetric metric;
        metric.label = {{"check", check.name}, {"kind", kind.second}};
        metric.gauge.value =
            check.result.status == HealthStatus::kFail ? 0.0 : 1.0;
        family.metric.push_back(std::move(metric));
      }
    }
    if (family.metric.empty()) {
      return {};
    }
    return {std::move(family)};
  }

  /// The checks counting for `probe` (all checks when nullopt).
  HealthReport report(std::optional<Probe> probe) const {
    HealthReport out;
    const auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& check : checks) {
      if (probe && !has_probe(check->options.probes, *probe)) {
        continue;
      }
      CheckReport entry{check->name, check->options.component_type,
                        check->options.probes, check->result, check->time};
      if (check->running && now - check->started > check->options.timeout) {
        entry.result = CheckResult::fail(
            "timed out after " +
            std::to_string(check->options.timeout.count()) + " ms");
        entry.time = std::chrono::system_clock::now();
      }
      if (entry.result.status > out.status) {
        out.status = entry.result.status;
      }
      out.checks.push_back(std::move(entry));
    }
    return out;
  }

  /// Body of one polled check's thread.
  void poll(Check& check) {
    std::unique_lock<std::mutex> lock(mutex);
    while (!stopping) {
      check.running = true;
      check.started = Clock::now();
      lock.unlock();
      CheckResult result;
      try {
        result = check.run();
      } catch (const std::exception& e) {
        result = CheckResult::fail(std::string("check threw: ") + e.what());
      } catch (...) {
        result = CheckResult::fail("check threw a non-std exception");
      }
      lock.lock();
      check.running = false;
      check.result = std::move(result);
      check.time = std::chrono::system_clock::now();
      wake.wait_for(lock, check.options.interval, [this] { return stopping; });
    }
  }

  mutable std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::vector<std::unique_ptr<Check>> checks;
};

}  // namespace detail
}  // namespace http
VIGIL_NAMESPACE_END
