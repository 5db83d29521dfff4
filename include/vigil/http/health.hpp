#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
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

#include "vigil/detail/json.hpp"
#include "vigil/health_verdict.hpp"
#include "vigil/registry.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// The IETF health-check draft's three states (vigil::HealthVerdict, which
/// components without HTTP report). warn still answers 200.
using HealthStatus = HealthVerdict;

/// Which probes a check counts for; combine with `|`.
enum class Probe : unsigned {
  kLiveness = 1,   ///< /health/live: restart me if this fails
  kReadiness = 2,  ///< /health/ready: send me no traffic if this fails
  kStartup = 4,    ///< /health/started: I have not finished starting
};

/// The union of two probe sets, e.g. `Probe::kLiveness | Probe::kReadiness`.
constexpr Probe operator|(Probe a, Probe b) {
  return static_cast<Probe>(static_cast<unsigned>(a) |
                            static_cast<unsigned>(b));
}
/// Whether the probe set `set` includes `probe`.
constexpr bool has_probe(Probe set, Probe probe) {
  return (static_cast<unsigned>(set) & static_cast<unsigned>(probe)) != 0;
}

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

/// The answer to one probe: the worst status of the checks it covers (pass
/// when it covers none) and their detail.
struct HealthReport {
  /// The worst status among `checks`; pass when there are none.
  HealthStatus status = HealthStatus::kPass;
  /// The checks the probe covers, in the order they were added.
  std::vector<CheckReport> checks;

  /// 200 for pass and warn, 503 for fail.
  unsigned http_status() const {
    return status == HealthStatus::kFail ? 503 : 200;
  }

  /// The `application/health+json` body (draft-inadarei-api-health-check):
  /// `checks` keyed by check name, each an array of one object.
  std::string to_json(const HealthOptions& service = {}) const {
    std::string out = "{\"status\":";
    vigil::detail::append_json_string(out, to_string(status));
    const std::pair<const char*, const std::string*> ids[] = {
        {"serviceId", &service.service_id},
        {"version", &service.version},
        {"description", &service.description}};
    for (const auto& id : ids) {
      if (id.second->empty()) {
        continue;
      }
      out += ",\"";
      out += id.first;
      out += "\":";
      vigil::detail::append_json_string(out, *id.second);
    }
    out += ",\"checks\":{";
    for (std::size_t i = 0; i < checks.size(); ++i) {
      const CheckReport& check = checks[i];
      if (i) {
        out += ',';
      }
      vigil::detail::append_json_string(out, check.name);
      out += ":[{\"status\":";
      vigil::detail::append_json_string(out, to_string(check.result.status));
      if (!check.component_type.empty()) {
        out += ",\"componentType\":";
        vigil::detail::append_json_string(out, check.component_type);
      }
      if (check.result.observed_value) {
        out += ",\"observedValue\":";
        vigil::detail::append_json_number(out, *check.result.observed_value);
      }
      if (!check.result.observed_unit.empty()) {
        out += ",\"observedUnit\":";
        vigil::detail::append_json_string(out, check.result.observed_unit);
      }
      out += ",\"time\":\"";
      vigil::detail::append_rfc3339(out, check.time);
      out += '"';
      if (!check.result.output.empty()) {
        out += ",\"output\":";
        vigil::detail::append_json_string(out, check.result.output);
      }
      out += "}]";
    }
    out += "}}";
    return out;
  }
};

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
