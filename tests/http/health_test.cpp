#include "vigil/http/health.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "test_client.hpp"
#include "vigil/circuit_breaker.hpp"
#include "vigil/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using vigil::http::CheckOptions;
using vigil::http::CheckResult;
using vigil::http::HealthRegistry;
using vigil::http::HealthStatus;
using vigil::http::Probe;
using vigil_test::eventually;
using vigil_test::sample_value;

CheckOptions fast(Probe probes) {
  CheckOptions options;
  options.probes = probes;
  options.interval = 5ms;
  options.timeout = 50ms;
  return options;
}

TEST(Health, EmptyRegistryPasses) {
  HealthRegistry health;
  EXPECT_EQ(health.report(Probe::kReadiness).status, HealthStatus::kPass);
  EXPECT_EQ(health.report().http_status(), 200u);
}

TEST(Health, PushChecksCountOnlyForTheirProbes) {
  HealthRegistry health;
  health.add_push_check("kafka", Probe::kReadiness);
  health.add_push_check("loop", Probe::kLiveness | Probe::kStartup);
  health.set("kafka", CheckResult::fail("rebalancing"));
  EXPECT_EQ(health.report(Probe::kReadiness).status, HealthStatus::kFail);
  EXPECT_EQ(health.report(Probe::kReadiness).http_status(), 503u);
  EXPECT_EQ(health.report(Probe::kLiveness).status, HealthStatus::kPass);
  EXPECT_EQ(health.report(Probe::kStartup).checks.size(), 1u);
  EXPECT_EQ(health.report().checks.size(), 2u);
  health.set("kafka", CheckResult::warn("lagging"));
  EXPECT_EQ(health.report(Probe::kReadiness).status, HealthStatus::kWarn);
  EXPECT_EQ(health.report(Probe::kReadiness).http_status(), 200u);
  EXPECT_THROW(health.set("nope", CheckResult::pass()), std::invalid_argument);
  EXPECT_THROW(health.add_push_check("kafka", Probe::kLiveness),
               std::invalid_argument);
}

TEST(Health, AnOpenCircuitBreakerWarnsWithoutFailingReadiness) {
  vigil::Registry registry;
  vigil::ManualClock clock;
  vigil::CircuitBreakerOptions options;
  options.clock = clock.source();
  vigil::CircuitBreaker breaker("crm", registry, options);
  HealthRegistry health;
  health.add_push_check("crm-breaker", Probe::kReadiness);
  auto publish = [&] {
    health.set("crm-breaker",
               CheckResult::from(breaker.health(), "circuit open"));
  };
  publish();
  EXPECT_EQ(health.report(Probe::kReadiness).status, HealthStatus::kPass);
  breaker.force_open();
  publish();
  const auto report = health.report(Probe::kReadiness);
  EXPECT_EQ(report.status, HealthStatus::kWarn);
  EXPECT_EQ(report.http_status(), 200u);
  EXPECT_EQ(report.checks.at(0).result.output, "circuit open");
  breaker.reset();
  publish();
  EXPECT_EQ(health.report(Probe::kReadiness).status, HealthStatus::kPass);
  EXPECT_TRUE(
      health.report(Probe::kReadiness).checks.at(0).result.output.empty());
}

TEST(Health, PolledCheckFollowsItsDependency) {
  std::atomic<bool> up{true};
  HealthRegistry health;
  health.add_check("db", fast(Probe::kReadiness), [&] {
    return up ? CheckResult::pass() : CheckResult::fail("ping failed");
  });
  auto status = [&] { return health.report(Probe::kReadiness).status; };
  EXPECT_TRUE(eventually([&] { return status() == HealthStatus::kPass; }));
  up = false;
  EXPECT_TRUE(eventually([&] { return status() == HealthStatus::kFail; }));
  EXPECT_EQ(health.report().checks.at(0).result.output, "ping failed");
  up = true;
  EXPECT_TRUE(eventually([&] { return status() == HealthStatus::kPass; }));
}

TEST(Health, HungCheckReportsTimeoutAndRecovers) {
  std::mutex mutex;
  std::condition_variable cv;
  bool hang = false;
  bool hanging = false;
  HealthRegistry health;
  health.add_check("slow", fast(Probe::kLiveness), [&] {
    std::unique_lock<std::mutex> lock(mutex);
    hanging = hang;
    cv.notify_all();
    cv.wait(lock, [&] { return !hang; });
    return CheckResult::pass();
  });
  auto report = [&] { return health.report(Probe::kLiveness); };
  ASSERT_TRUE(
      eventually([&] { return report().status == HealthStatus::kPass; }));
  {
    std::unique_lock<std::mutex> lock(mutex);
    hang = true;
    cv.wait(lock, [&] { return hanging; });  // a run is now stuck
  }
  ASSERT_TRUE(
      eventually([&] { return report().status == HealthStatus::kFail; }));
  EXPECT_EQ(report().checks.at(0).result.output, "timed out after 50 ms");
  {
    std::lock_guard<std::mutex> lock(mutex);
    hang = false;
  }
  cv.notify_all();
  EXPECT_TRUE(
      eventually([&] { return report().status == HealthStatus::kPass; }));
}

TEST(Health, ThrowingCheckFails) {
  HealthRegistry health;
  health.add_check("boom", fast(Probe::kReadiness),
                   []() -> CheckResult { throw std::runtime_error("no db"); });
  ASSERT_TRUE(eventually([&] {
    return health.report().checks.at(0).result.output == "check threw: no db";
  }));
  EXPECT_EQ(health.report().status, HealthStatus::kFail);
}

TEST(Health, PendingCheckFailsUntilItsFirstRun) {
  std::mutex mutex;
  std::condition_variable cv;
  bool release = false;
  HealthRegistry health;
  CheckOptions options = fast(Probe::kReadiness);
  options.timeout = 1h;  // pending, not timed out
  health.add_check("warmup", options, [&] {
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [&] { return release; });
    return CheckResult::pass();
  });
  EXPECT_EQ(health.report(Probe::kReadiness).status, HealthStatus::kFail);
  {
    std::lock_guard<std::mutex> lock(mutex);
    release = true;
  }
  cv.notify_all();
  EXPECT_TRUE(eventually([&] {
    return health.report(Probe::kReadiness).status == HealthStatus::kPass;
  }));
}

TEST(Health, JsonFollowsTheHealthCheckDraft) {
  vigil::http::HealthOptions service;
  service.service_id = "chat-api";
  service.version = "1.2.0";
  HealthRegistry health(service);
  health.add_push_check("db", Probe::kReadiness, CheckResult::pass(),
                        "datastore");
  CheckResult lag = CheckResult::warn("consumer \"lag\"\nhigh");
  lag.observed_value = 1250;
  lag.observed_unit = "messages";
  health.add_push_check("kafka", Probe::kReadiness, lag);

  const auto json = nlohmann::json::parse(health.report().to_json(service));
  EXPECT_EQ(json["status"], "warn");
  EXPECT_EQ(json["serviceId"], "chat-api");
  EXPECT_EQ(json["version"], "1.2.0");
  EXPECT_FALSE(json.contains("description"));
  const auto& db = json["checks"]["db"].at(0);
  EXPECT_EQ(db["status"], "pass");
  EXPECT_EQ(db["componentType"], "datastore");
  EXPECT_FALSE(db.contains("output"));
  EXPECT_EQ(db["time"].get<std::string>().back(), 'Z');
  const auto& kafka = json["checks"]["kafka"].at(0);
  EXPECT_EQ(kafka["status"], "warn");
  EXPECT_EQ(kafka["observedValue"], 1250);
  EXPECT_EQ(kafka["observedUnit"], "messages");
  EXPECT_EQ(kafka["output"], "consumer \"lag\"\nhigh");
}

TEST(Health, StatusIsExportedPerCheckAndKind) {
  vigil::Registry registry;
  HealthRegistry health(registry);
  health.add_push_check("db", Probe::kReadiness | Probe::kLiveness);
  const std::string ready =
      "vigil_health_check_status{check=\"db\",kind=\"readiness\"}";
  const std::string live =
      "vigil_health_check_status{check=\"db\",kind=\"liveness\"}";
  EXPECT_EQ(sample_value(registry.scrape(), ready), 1);
  health.set("db", CheckResult::fail("down"));
  const std::string body = registry.scrape();
  EXPECT_EQ(sample_value(body, ready), 0);
  EXPECT_EQ(sample_value(body, live), 0);
  EXPECT_EQ(sample_value(body,
                         "vigil_health_check_status{check=\"db\",kind="
                         "\"startup\"}"),
            -1);
}

TEST(Health, RegistryOutlivedByMetricsRegistry) {
  vigil::Registry registry;
  {
    HealthRegistry health(registry);
    health.add_push_check("db", Probe::kReadiness);
  }
  EXPECT_EQ(registry.scrape().find("vigil_health_check_status"),
            std::string::npos);
}

}  // namespace
